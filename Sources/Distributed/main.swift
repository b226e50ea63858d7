import Foundation

let commands: [Command] = [
    trainCommand,
    evalCommand,
    sampleCommand,
    prepareCommand,
    benchCommand,
    gradcheckCommand,
]

let usage = """
    Distributed: data-parallel CPU training of the CQF generative model (VAE + Real NVP + GAN).

    usage: Distributed SUBCOMMAND [OPTIONS]
           Distributed SUBCOMMAND --help

    subcommands:
    \(commands.map { "  " + $0.name.padding(toLength: 11, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))
    """

func main() -> Int32 {
    let argv = Array(CommandLine.arguments.dropFirst())
    guard let name = argv.first, name != "--help", name != "-h" else {
        print(usage)
        return argv.isEmpty ? 2 : 0
    }
    guard let command = commands.first(where: { $0.name == name }) else {
        FileHandle.standardError.write("error: unknown subcommand '\(name)'; run `Distributed --help`\n".data(using: .utf8)!)
        return 2
    }
    var arguments = Arguments(command: name, Array(argv.dropFirst()))
    if arguments.flag("help") {
        print(command.usage)
        return 0
    }
    do {
        try command.run(&arguments)
        return 0
    } catch {
        FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
        return 2
    }
}

exit(main())
