/// One subcommand of `Distributed`: its name, its usage text (every option with its default)
/// and what it runs. Each lives in its own file as `let <name>Command = Command(...)` and is
/// listed in main.swift.
struct Command {
    let name: String
    let summary: String
    let usage: String
    let run: (inout Arguments) throws -> Void
}
