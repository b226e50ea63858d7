import CPUPeak
import CQF
import Foundation

// First, before any loop the compiler vectorised for the build's CPU target can run.
#if arch(x86_64)
if cqf_has_avx2_fma() == 0 {
    fputs("error: this CPU lacks AVX2 and FMA, which this build targets (`-target-cpu haswell` in Package.swift); "
          + "build without that flag to run here\n", stderr)
    exit(1)
}
#endif

let commands: [Command] = [
    trainCommand,
    evalCommand,
    sampleCommand,
    prepareCommand,
    scoreCommand,
    classifierCommand,
    benchCommand,
    gradcheckCommand,
]

let usage = """
    Distributed: data-parallel CPU training of the CQF generative model (VAE + Real NVP + GAN).

    usage: Distributed SUBCOMMAND [OPTIONS]
           Distributed SUBCOMMAND --help
           Distributed [OPTIONS of train]      (no subcommand: train)

    subcommands:
    \(commands.map { "  " + $0.name.padding(toLength: 12, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))
    """

func main() -> Int32 {
    settleThreadWaitPolicy()
    let argv = Array(CommandLine.arguments.dropFirst())
    if let first = argv.first, first == "--help" || first == "-h" {
        print(usage)
        return 0
    }
    let command: Command
    let options: [String]
    if let name = argv.first, !name.hasPrefix("-"), !name.contains("=") {
        guard let named = commands.first(where: { $0.name == name }) else {
            FileHandle.standardError.write("error: unknown subcommand '\(name)'; run `Distributed --help`\n".data(using: .utf8)!)
            return 2
        }
        (command, options) = (named, Array(argv.dropFirst()))
    } else {
        // The card's `mpirun -n 16 swift run Distributed`: no subcommand means train.
        if MPICommunicator.rankFromLauncher() == 0 {
            Console.error("Distributed: no subcommand, so `train` with the options given (`Distributed --help` lists the subcommands)")
        }
        (command, options) = (trainCommand, argv)
    }
    var arguments = Arguments(command: command.name, options)
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
