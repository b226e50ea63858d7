// Training health, judged at every logged step on rank 0. This model's training fails in ways
// that leave the losses calm: a dead discriminator (with the paper's settings D's ReLUs died
// on the generated images within a few hundred steps on Fashion-MNIST: their logits constant,
// so L_Q gave the generator nothing and cqf trained as mle, while D still scored real images),
// a collapsed posterior (a decoder stage whose KL is zero carries no information) and
// collapsed samples (all alike, or FD climbing back). Each prints one warning line when it
// begins and one line when it ends.

/// What one logged step shows of the training's health.
public struct HealthReading {
    public var step: Int
    /// D's mean input-gradient norm and the spreads of its logits over the real and over the
    /// generated images (nil without a discriminator); the message quotes the other two.
    public var discriminator: (gradientNorm: Double, realLogitSpread: Double, fakeLogitSpread: Double)?
    /// The KL of each decoder stage, nats per image (empty without the coverage loss).
    public var stageKL: [Double] = []
    /// The per-pixel spread of the fixed-noise sample grid, when one was drawn at this step.
    public var sampleSpread: Double?
    /// FD, when it was measured at this step.
    public var fd: Double?

    public init(step: Int) { self.step = step }
}

public final class TrainingHealth {
    public enum Problem: Hashable {
        case deadDiscriminator
        case collapsedPosterior(stage: Int)
        case collapsedSamples
        case risingFD
    }

    /// D has died when its logits over the generated images spread less than `deadLevel`
    /// (so L_Q's gradient vanishes) after they once spread more than `liveSpread`: a working D
    /// scores generated images apart (spreads of 0.3 to 1.5 measured), one whose ReLUs died on
    /// them gives them all one logit. Before D has lived, a low spread is the start of training:
    /// at initialisation D is flat (input gradient 0.0016) and the generator's first samples
    /// are alike (logit spreads of 0.0005, measured). Samples collapsed onto one image read the
    /// same; the collapsed-samples warning, which comes first then, tells the two apart.
    static let deadLevel = 1e-3
    static let liveSpread = 0.1
    /// A stage whose KL averages less than this (nats per image) has collapsed onto its prior.
    static let collapsedKL = 0.01
    /// The weight of each new reading in the KL's running average: a batch's single-sample KL
    /// of a nearly unused stage swings around 0 (measured: -0.27 to 0.39 within 2 steps).
    static let klAveraging = 0.1
    /// Samples have collapsed when their spread falls below this fraction of the largest seen.
    static let collapsedSpreadFraction = 0.1
    /// FD is rising when it exceeds its lowest value so far by this factor.
    static let risingFDFactor = 1.5

    public private(set) var problems: Set<Problem> = []
    private var discriminatorLived = false
    private var averageKL: [Double] = []
    private var largestSpread = 0.0
    private var lowestFD = Double.infinity

    public init() {}

    /// The lines to print for the problems that began or ended at this reading.
    public func update(_ reading: HealthReading) -> [String] {
        var lines: [String] = []
        let at = "step \(reading.step):"
        func set(_ problem: Problem, _ present: Bool, begins: @autoclosure () -> String, ends: @autoclosure () -> String) {
            if present && problems.insert(problem).inserted { lines.append("warning: \(at) " + begins()) }
            if !present && problems.remove(problem) != nil { lines.append("train: \(at) " + ends()) }
        }
        if let d = reading.discriminator {
            discriminatorLived = discriminatorLived || d.fakeLogitSpread > TrainingHealth.liveSpread
            set(.deadDiscriminator, discriminatorLived && d.fakeLogitSpread < TrainingHealth.deadLevel,
                begins: "the discriminator is dead: its logits on the generated images do not vary (spread "
                    + "\(format(d.fakeLogitSpread)); on real images \(format(d.realLogitSpread)), input gradient "
                    + "\(format(d.gradientNorm))), so L_Q gives the generator nothing",
                ends: "the discriminator is alive again (its logits on the generated images spread \(format(d.fakeLogitSpread)))")
        }
        averageKL = averageKL.isEmpty ? reading.stageKL
            : zip(averageKL, reading.stageKL).map { $0 + TrainingHealth.klAveraging * ($1 - $0) }
        for (stage, kl) in averageKL.enumerated() {
            set(.collapsedPosterior(stage: stage), kl < TrainingHealth.collapsedKL,
                begins: "the posterior of decoder stage \(stage) collapsed onto its prior: its KL averages \(format(kl)) nats per image",
                ends: "decoder stage \(stage) carries information again (its KL averages \(format(kl)) nats per image)")
        }
        if let spread = reading.sampleSpread {
            largestSpread = max(largestSpread, spread)
            set(.collapsedSamples, spread < TrainingHealth.collapsedSpreadFraction * largestSpread,
                begins: "the samples collapsed: the per-pixel spread of the fixed sample batch fell to \(format(spread)) "
                    + "(of 255) from \(format(largestSpread))",
                ends: "the samples vary again (per-pixel spread \(format(spread)))")
        }
        if let fd = reading.fd {
            lowestFD = min(lowestFD, fd)
            set(.risingFD, fd > TrainingHealth.risingFDFactor * lowestFD,
                begins: "FD rose to \(format(fd)) from its lowest, \(format(lowestFD))",
                ends: "FD is back to \(format(fd)) (lowest \(format(lowestFD)))")
        }
        return lines
    }

    private func format(_ value: Double) -> String { String(format: value < 1 ? "%.4f" : "%.2f", value) }
}
