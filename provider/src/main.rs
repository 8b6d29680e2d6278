//! `terraform-provider-sparkoss`: started by Terraform (go-plugin handshake), or with `--debug`
//! by a developer.

use std::process::ExitCode;

use sparkoss_provider::plugin;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-v") => {
            println!("terraform-provider-sparkoss {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!("terraform-provider-sparkoss {}: a Terraform provider; Terraform starts it.\n\nOptions:\n  --debug     listen for Terraform to attach (prints TF_REATTACH_PROVIDERS)\n  --version   print the version", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--debug") | None => {}
        Some(other) => {
            eprintln!("terraform-provider-sparkoss: unknown argument {other:?} (try --help)");
            return ExitCode::from(1);
        }
    }
    let debug = args.first().is_some_and(|a| a == "--debug");

    // Logs go to stderr, which Terraform captures (TF_LOG_PROVIDER shows them); stdout carries
    // only the handshake line.
    let filter = std::env::var("SPARKOSS_LOG").unwrap_or_else(|_| if debug { "info".into() } else { "warn".into() });
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")))
        .init();

    let request = if debug {
        None
    } else {
        match plugin::handshake::read(&|k| std::env::var(k).ok()) {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
        }
    };

    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("terraform-provider-sparkoss: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match request {
            Some(r) => plugin::serve(r).await,
            None => plugin::serve_debug().await,
        }
    });
    // Do not wait for stray tasks (a read blocked on a slow API): Terraform is done with us.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-sparkoss: {e}");
            ExitCode::from(1)
        }
    }
}
