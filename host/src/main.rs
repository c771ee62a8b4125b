fn main() -> std::process::ExitCode {
    capcrm::cli::main()
}
