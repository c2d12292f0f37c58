//! What survives a crash: tenants (tokens stored hashed) and blobs, in SQLite
//! (`hecnn.db`) and on disk (`blobs/`), under one data directory.
//!
//! A blob is content-addressed (its BLAKE3 hash names the file) and written
//! to `tmp/` first, renamed into `blobs/` only once it is complete and
//! hashed, and recorded in the database only after the rename: a crash at
//! any point leaves either nothing or a complete blob (a stray temporary
//! is removed at the next start). Ownership is a row per (tenant, hash): a
//! tenant reads only blobs it uploaded itself, and a hash it does not own
//! is indistinguishable from one that does not exist.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use thiserror::Error;

/// A tenant's id.
pub type TenantId = i64;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// The file system.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A tenant of that name exists.
    #[error("tenant {0:?} exists")]
    TenantExists(String),
    /// A tenant name that is not 1–64 of `[A-Za-z0-9_-]`.
    #[error("tenant name {0:?}: use 1 to 64 letters, digits, '-' or '_'")]
    BadName(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// One blob as its owner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlobInfo {
    /// BLAKE3 of the content, 64 lowercase hex digits.
    pub hash: String,
    /// Bytes.
    pub size: u64,
}

/// A set of files: name → blob hash.
pub type Files = std::collections::BTreeMap<String, String>;

/// A job as its owner sees it.
#[derive(Clone, Debug, Serialize)]
pub struct JobInfo {
    /// Job id.
    pub id: i64,
    /// `train` or `infer`.
    pub kind: String,
    /// The dataset it trains or infers on.
    pub dataset: i64,
    /// Iterations asked for (training).
    pub iterations: usize,
    /// `queued`, `running`, `done` or `failed` (a job running at a crash is queued again at start).
    pub state: String,
    /// In [0, 1].
    pub progress: f64,
    /// Iterations whose W and V are saved (where a restarted job resumes).
    pub checkpoint: usize,
    /// The checkpoint the last run of the job started from, if it resumed.
    pub resumed_from: Option<usize>,
    /// The result's files (name → blob hash) when done: the encrypted
    /// model, or the encrypted scores.
    pub result: Option<Files>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What a job does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// `train` or `infer`.
    pub kind: String,
    /// The dataset.
    pub dataset: i64,
    /// Training iterations (0 for inference).
    pub iterations: usize,
}

pub use hecnn_ml::safe_fs::is_plain_file_name as is_file_name;

/// The data directory: database and blob files.
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
}

/// Hex of a BLAKE3 hash.
pub fn hex(hash: &blake3::Hash) -> String {
    hash.to_hex().to_string()
}

/// Whether `s` is a blob name: 64 lowercase hex digits (so it can never
/// name another path).
pub fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Store {
    /// Opens (or creates) the store in `dir`; removes unfinished temporaries.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        for sub in ["blobs", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let tmp = dir.join("tmp");
        for entry in std::fs::read_dir(&tmp).map_err(io(&tmp))? {
            let path = entry.map_err(io(&tmp))?.path();
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
        let db = Connection::open(dir.join("hecnn.db"))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS tenants (
                 id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash BLOB NOT NULL UNIQUE);
             CREATE TABLE IF NOT EXISTS blobs (
                 tenant INTEGER NOT NULL REFERENCES tenants(id), hash TEXT NOT NULL, size INTEGER NOT NULL,
                 PRIMARY KEY (tenant, hash));
             CREATE TABLE IF NOT EXISTS datasets (
                 id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id), files TEXT NOT NULL,
                 deleted INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS jobs (
                 id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL REFERENCES tenants(id),
                 dataset INTEGER NOT NULL REFERENCES datasets(id), iterations INTEGER NOT NULL,
                 kind TEXT NOT NULL DEFAULT 'train',
                 state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, result TEXT, error TEXT,
                 checkpoint INTEGER NOT NULL DEFAULT 0, resumed_from INTEGER);
             UPDATE jobs SET state = 'queued', progress = CAST(checkpoint AS REAL) / MAX(iterations, 1)
                 WHERE state = 'running';",
        )?;
        Ok(Self { dir: dir.to_path_buf(), db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each
        // statement is atomic), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates tenant `name` and returns its bearer token (shown once; only
    /// its hash is stored).
    pub fn create_tenant(&self, name: &str) -> Result<String, StoreError> {
        if name.is_empty()
            || name.len() > 64
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StoreError::BadName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        let token = format!("hecnn_{}", secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let hash = blake3::hash(token.as_bytes());
        let r = self.db().execute(
            "INSERT INTO tenants (name, token_hash) VALUES (?1, ?2)",
            params![name, hash.as_bytes().as_slice()],
        );
        match r {
            Ok(_) => Ok(token),
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
                Err(StoreError::TenantExists(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The tenant a bearer token belongs to.
    pub fn tenant_of(&self, token: &str) -> Result<Option<TenantId>, StoreError> {
        let hash = blake3::hash(token.as_bytes());
        Ok(self
            .db()
            .query_row("SELECT id FROM tenants WHERE token_hash = ?1", params![hash.as_bytes().as_slice()], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// A fresh temporary file for an upload in progress.
    pub fn temp_path(&self) -> PathBuf {
        let mut name = [0u8; 16];
        rand::fill(&mut name);
        self.dir.join("tmp").join(format!("{}.part", name.iter().map(|b| format!("{b:02x}")).collect::<String>()))
    }

    /// Where the blob `hash` lives.
    fn blob_path(&self, hash: &str) -> PathBuf {
        self.dir.join("blobs").join(&hash[..2]).join(hash)
    }

    /// Commits a complete temporary file as blob `hash` of `tenant`: renamed
    /// into place (or dropped when the content is there already), then
    /// recorded. The temporary is gone afterwards in every case.
    pub fn commit_blob(&self, tenant: TenantId, temp: &Path, hash: &str, size: u64) -> Result<BlobInfo, StoreError> {
        let path = self.blob_path(hash);
        let parent = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        if path.exists() {
            std::fs::remove_file(temp).map_err(io(temp))?;
        } else {
            std::fs::rename(temp, &path).map_err(io(&path))?;
            // The rename is durable once the directory is synced.
            std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io(parent))?;
        }
        self.db().execute(
            "INSERT OR IGNORE INTO blobs (tenant, hash, size) VALUES (?1, ?2, ?3)",
            params![tenant, hash, size as i64],
        )?;
        Ok(BlobInfo { hash: hash.to_string(), size })
    }

    /// The file of blob `hash` if `tenant` owns it.
    pub fn blob(&self, tenant: TenantId, hash: &str) -> Result<Option<(PathBuf, u64)>, StoreError> {
        if !is_hash(hash) {
            return Ok(None);
        }
        let size: Option<i64> = self
            .db()
            .query_row("SELECT size FROM blobs WHERE tenant = ?1 AND hash = ?2", params![tenant, hash], |r| r.get(0))
            .optional()?;
        Ok(size.map(|s| (self.blob_path(hash), s as u64)))
    }

    /// The blobs `tenant` owns.
    pub fn blobs(&self, tenant: TenantId) -> Result<Vec<BlobInfo>, StoreError> {
        let db = self.db();
        let mut st = db.prepare("SELECT hash, size FROM blobs WHERE tenant = ?1 ORDER BY hash")?;
        let rows =
            st.query_map(params![tenant], |r| Ok(BlobInfo { hash: r.get(0)?, size: r.get::<_, i64>(1)? as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Removes `tenant`'s ownership of `hash` (the file goes when no tenant
    /// owns it). Returns whether it owned it.
    pub fn delete_blob(&self, tenant: TenantId, hash: &str) -> Result<bool, StoreError> {
        if !is_hash(hash) {
            return Ok(false);
        }
        let db = self.db();
        let n = db.execute("DELETE FROM blobs WHERE tenant = ?1 AND hash = ?2", params![tenant, hash])?;
        let others: i64 = db.query_row("SELECT COUNT(*) FROM blobs WHERE hash = ?1", params![hash], |r| r.get(0))?;
        if n > 0 && others == 0 {
            let path = self.blob_path(hash);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::Io { path, source: e }),
            }
        }
        Ok(n > 0)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where dataset `id`'s files are linked (the validating readers read them there).
    pub fn dataset_dir(&self, id: i64) -> PathBuf {
        self.dir.join("datasets").join(id.to_string())
    }

    /// Records a dataset (file name → blob hash) and links its files into
    /// [`Store::dataset_dir`]; every hash must be one `tenant` owns.
    /// Returns the id, or the first file whose blob the tenant does not own.
    pub fn create_dataset(&self, tenant: TenantId, files: &Files) -> Result<Result<i64, String>, StoreError> {
        for (name, hash) in files {
            if self.blob(tenant, hash)?.is_none() {
                return Ok(Err(name.clone()));
            }
        }
        let json = serde_json::to_string(files).expect("a map of strings serializes");
        let id = {
            let db = self.db();
            db.execute("INSERT INTO datasets (tenant, files) VALUES (?1, ?2)", params![tenant, json])?;
            db.last_insert_rowid()
        };
        let dir = self.dataset_dir(id);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (name, hash) in files {
            let link = dir.join(name);
            if !link.exists() {
                std::fs::hard_link(self.blob_path(hash), &link).map_err(io(&link))?;
            }
        }
        Ok(Ok(id))
    }

    /// Forgets dataset `id` (its links; the blobs stay; a row that jobs
    /// name stays, marked deleted).
    pub fn delete_dataset(&self, id: i64) -> Result<(), StoreError> {
        let dir = self.dataset_dir(id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io { path: dir, source: e }),
        }
        // Finished jobs keep naming the dataset: its row stays, marked deleted.
        let db = self.db();
        let gone = db.execute(
            "DELETE FROM datasets WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE dataset = ?1)",
            params![id],
        )?;
        if gone == 0 {
            db.execute("UPDATE datasets SET deleted = 1 WHERE id = ?1", params![id])?;
        }
        Ok(())
    }

    /// Whether a queued or running job uses dataset `id`.
    pub fn dataset_in_use(&self, id: i64) -> Result<bool, StoreError> {
        let n: i64 = self.db().query_row(
            "SELECT COUNT(*) FROM jobs WHERE dataset = ?1 AND state IN ('queued', 'running')",
            params![id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Whether `tenant` owns dataset `id`.
    pub fn owns_dataset(&self, tenant: TenantId, id: i64) -> Result<bool, StoreError> {
        let n: i64 = self.db().query_row(
            "SELECT COUNT(*) FROM datasets WHERE id = ?1 AND tenant = ?2 AND deleted = 0",
            params![id, tenant],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Queues a job (`kind` `train` or `infer`) unless `queue_len` jobs are
    /// queued or running.
    pub fn queue_job(&self, tenant: TenantId, spec: &JobSpec, queue_len: usize) -> Result<Option<i64>, StoreError> {
        let db = self.db();
        let busy: i64 =
            db.query_row("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')", [], |r| r.get(0))?;
        if busy as usize >= queue_len {
            return Ok(None);
        }
        db.execute(
            "INSERT INTO jobs (tenant, dataset, iterations, kind, state) VALUES (?1, ?2, ?3, ?4, 'queued')",
            params![tenant, spec.dataset, spec.iterations as i64, spec.kind],
        )?;
        Ok(Some(db.last_insert_rowid()))
    }

    /// Queued jobs, oldest first: (job, tenant, what).
    pub fn queued_jobs(&self) -> Result<Vec<(i64, TenantId, JobSpec)>, StoreError> {
        let db = self.db();
        let mut st =
            db.prepare("SELECT id, tenant, dataset, iterations, kind FROM jobs WHERE state = 'queued' ORDER BY id")?;
        let rows = st.query_map([], |r| {
            let spec = JobSpec { dataset: r.get(2)?, iterations: r.get::<_, i64>(3)? as usize, kind: r.get(4)? };
            Ok((r.get(0)?, r.get(1)?, spec))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a queued job to running; false if another worker took it.
    pub fn start_job(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.db().execute("UPDATE jobs SET state = 'running' WHERE id = ?1 AND state = 'queued'", params![id])? == 1)
    }

    /// Records a running job's progress in [0, 1].
    pub fn set_progress(&self, id: i64, progress: f64) -> Result<(), StoreError> {
        self.db().execute("UPDATE jobs SET progress = ?2 WHERE id = ?1", params![id, progress])?;
        Ok(())
    }

    /// Records that job `id`'s W and V after `iterations` iterations are saved.
    pub fn set_checkpoint(&self, id: i64, iterations: usize) -> Result<(), StoreError> {
        self.db().execute("UPDATE jobs SET checkpoint = ?2 WHERE id = ?1", params![id, iterations as i64])?;
        Ok(())
    }

    /// Records that job `id`'s current run resumed from the checkpoint after `iterations`.
    pub fn set_resumed(&self, id: i64, iterations: usize) -> Result<(), StoreError> {
        self.db().execute("UPDATE jobs SET resumed_from = ?2 WHERE id = ?1", params![id, iterations as i64])?;
        Ok(())
    }

    /// Puts a running job back in the queue (the server is stopping; it
    /// resumes from its checkpoint at the next start).
    pub fn requeue_job(&self, id: i64) -> Result<(), StoreError> {
        self.db().execute("UPDATE jobs SET state = 'queued' WHERE id = ?1 AND state = 'running'", params![id])?;
        Ok(())
    }

    /// Where job `id` keeps its checkpoints and its output while it runs.
    pub fn job_dir(&self, id: i64) -> PathBuf {
        self.dir.join("jobs").join(id.to_string())
    }

    /// Ends a job: its result files (name → hash) or its error.
    pub fn finish_job(&self, id: i64, result: Result<&Files, &str>) -> Result<(), StoreError> {
        let db = self.db();
        match result {
            Ok(files) => db.execute(
                "UPDATE jobs SET state = 'done', progress = 1, result = ?2 WHERE id = ?1",
                params![id, serde_json::to_string(files).expect("serializes")],
            )?,
            Err(e) => db.execute("UPDATE jobs SET state = 'failed', error = ?2 WHERE id = ?1", params![id, e])?,
        };
        Ok(())
    }

    /// A job as its owner sees it.
    pub fn job(&self, tenant: TenantId, id: i64) -> Result<Option<JobInfo>, StoreError> {
        Ok(self
            .db()
            .query_row(
                "SELECT id, dataset, iterations, state, progress, result, error, checkpoint, resumed_from, kind
                 FROM jobs WHERE id = ?1 AND tenant = ?2",
                params![id, tenant],
                |r| {
                    let result: Option<String> = r.get(5)?;
                    Ok(JobInfo {
                        id: r.get(0)?,
                        kind: r.get(9)?,
                        dataset: r.get(1)?,
                        iterations: r.get::<_, i64>(2)? as usize,
                        state: r.get(3)?,
                        progress: r.get(4)?,
                        result: result.and_then(|j| serde_json::from_str(&j).ok()),
                        error: r.get(6)?,
                        checkpoint: r.get::<_, i64>(7)? as usize,
                        resumed_from: r.get::<_, Option<i64>>(8)?.map(|i| i as usize),
                    })
                },
            )
            .optional()?)
    }

    /// Stores a finished file as a blob of `tenant` (hashing it) and returns its hash.
    pub fn add_file_as_blob(&self, tenant: TenantId, path: &Path) -> Result<String, StoreError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let hash = hex(&blake3::hash(&bytes));
        let temp = self.temp_path();
        std::fs::write(&temp, &bytes).map_err(io(&temp))?;
        std::fs::File::open(&temp).and_then(|f| f.sync_all()).map_err(io(&temp))?;
        self.commit_blob(tenant, &temp, &hash, bytes.len() as u64)?;
        Ok(hash)
    }

    /// Files in `tmp/` (uploads in progress or abandoned).
    pub fn temporaries(&self) -> usize {
        std::fs::read_dir(self.dir.join("tmp")).map(|d| d.count()).unwrap_or(0)
    }
}
