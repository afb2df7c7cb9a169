//! The `flow` binary: all the work is in the library.

/// mimalloc rather than the platform's allocator: see its entry in
/// Cargo.toml. Only the binary chooses; the library stays allocator-neutral.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flow::cli::main()
}
