//! The `flow` binary: all the work is in the library.

fn main() -> std::process::ExitCode {
    flow::cli::main()
}
