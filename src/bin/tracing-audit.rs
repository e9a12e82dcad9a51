//! The `tracing-audit` command (install with `cargo install tracing-audit --features cli`).

fn main() -> std::process::ExitCode {
    tracing_audit::cli::main()
}
