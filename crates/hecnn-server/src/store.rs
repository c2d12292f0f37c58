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
                 PRIMARY KEY (tenant, hash));",
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

    /// Files in `tmp/` (uploads in progress or abandoned).
    pub fn temporaries(&self) -> usize {
        std::fs::read_dir(self.dir.join("tmp")).map(|d| d.count()).unwrap_or(0)
    }
}
