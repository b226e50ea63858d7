// `Distributed gradcheck`: every loss's analytic gradient against central finite differences.
import CQF
import Foundation

let gradcheckCommand = Command(
    name: "gradcheck",
    summary: "check every loss's gradient against finite differences",
    usage: """
        usage: Distributed gradcheck [--config FILE] [KEY=VALUE ...]

        Builds the model of the config (use small widths: the check evaluates each loss twice per
        checked parameter), takes 4 images of uniform noise, and compares, for each loss of the
        objective (coverage, quality, discriminator with its gradient penalty) and each network
        it trains, the analytic gradient with central differences (steps 3e-3 and 1.5e-3) at the 6
        parameters with the largest gradient, passing over those where the two steps disagree
        (a ReLU kink within the step; counted as skipped). Prints one JSON line per check, then
        the worst relative error; exits 1 when it exceeds the tolerance (2e-2).
        """,
    run: { arguments in
        let config = try arguments.config()
        try arguments.finish()
        Convolutions.kernels = DNNLConvolution(threads: 1)
        let report = GradientCheck(config: config).run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for line in report.lines { print(String(data: try encoder.encode(line), encoding: .utf8)!) }
        print("{\"worst_relative_error\": \(report.worstError), \"worst\": \"\(report.worstLoss)\", \"checked\": \(report.lines.count), "
            + "\"skipped_at_kinks\": \(report.skipped), \"unchecked\": \"\(report.unchecked.joined(separator: "; "))\", \"tolerance\": \(report.tolerance), \"passed\": \(report.passed)}")
        if !report.passed { exit(1) }
    }
)
