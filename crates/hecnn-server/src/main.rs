//! `hecnn-server --data-dir DIR --listen 127.0.0.1:PORT`: the HTTP service;
//! `hecnn-server --data-dir DIR create-tenant NAME`: prints a new tenant's
//! bearer token (only its hash is stored).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hecnn_server::api::{router, AppState, Limits};
use hecnn_server::models::Models;
use hecnn_server::store::Store;

#[derive(Parser)]
#[command(name = "hecnn-server", version, about = "The untrusted server of hecnn as an HTTP service")]
struct Cli {
    /// Directory of the database and the blobs (created if missing).
    #[arg(long, env = "HECNN_DATA_DIR")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "HECNN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Largest request body in bytes (a bootstrapping key set is ≈ 1 GB).
    #[arg(long, env = "HECNN_MAX_BODY", default_value_t = 4 << 30)]
    max_body: u64,
    /// Most jobs queued or running (more: 503 with Retry-After).
    #[arg(long, env = "HECNN_QUEUE_LEN", default_value_t = 16)]
    queue_len: usize,
    /// Jobs run at once.
    #[arg(long, env = "HECNN_WORKERS", default_value_t = 1)]
    workers: usize,
    /// Memory a job may need, in bytes (estimated from its dataset; 0: no limit).
    #[arg(long, env = "HECNN_JOB_MEMORY", default_value_t = 0)]
    job_memory: u64,
    /// Models served for encrypted inference (comma-separated: bundled, residual).
    #[arg(long, env = "HECNN_MODELS", value_delimiter = ',', default_value = "bundled")]
    models: Vec<String>,
    /// Pause after every stage of a job, in milliseconds (fault-injection tests).
    #[arg(long, env = "HECNN_STAGE_PAUSE_MS", default_value_t = 0, hide = true)]
    stage_pause_ms: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a tenant and print its bearer token (shown once).
    CreateTenant {
        /// 1 to 64 letters, digits, '-' or '_'.
        name: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let store = Store::open(&cli.data_dir)?;
    if let Some(Command::CreateTenant { name }) = cli.command {
        println!("{}", store.create_tenant(&name)?);
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(&cli.listen).await?;
    tracing::info!(addr = %listener.local_addr()?, data_dir = %cli.data_dir.display(), "listening");
    let limits = Limits {
        max_body: cli.max_body,
        queue_len: cli.queue_len,
        workers: cli.workers,
        job_memory: cli.job_memory,
        stage_pause_ms: cli.stage_pause_ms,
    };
    let state = AppState::new(store, limits, Models::bundled(&cli.models)?);
    tokio::spawn(hecnn_server::jobs::dispatcher(state.clone()));
    axum::serve(listener, router(state.clone())).with_graceful_shutdown(shutdown()).await?;
    tracing::info!("stopping the jobs at their next stage (their checkpoints stay)");
    state.stop_jobs().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C: stop accepting, finish the requests in flight, then
/// stop the running jobs at their next stage.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
