// Every setting of a run: MODEL.md's configurable choices with their defaults, the data, and
// the schedule. Read from JSON (`--config`), then `KEY=VALUE` overrides by dotted name
// (`nvp.scales=2`), then validated: each refusal is one sentence naming the field.
import Foundation

public enum Objective: String, Codable, CaseIterable, Sendable {
    case gan, vae, cq, cqf, mle

    /// The coverage loss L_C (and so the encoder) is trained.
    public var usesCoverage: Bool { self != .gan }
    /// The quality loss L_Q (and so the discriminator) is trained.
    public var usesQuality: Bool { self == .gan || self == .cq || self == .cqf }
    /// The decoder writes into the feature space of the Real NVP f.
    public var usesFlow: Bool { self == .cqf || self == .mle }
}

public struct NVPConfig: Codable, Equatable, Sendable {
    public var scales = 1
    public var blocks = 2
    public var filters = 32
    public var bn_eps: Float = 1e-4
    /// Running averages: running = momentum * running + (1 - momentum) * batch.
    public var bn_momentum: Float = 0.9
}

public struct Config: Codable, Equatable, Sendable {
    public var objective = Objective.cqf
    public var dataset = "fashion-mnist"
    public var data = "/usr/share/datasets/fashion-mnist"
    /// Image channels and size after the reader (28x28 sets are padded to 32).
    public var channels = 1
    public var image_size = 32
    /// The global batch, split over the ranks.
    public var batch = 64
    public var steps = 2000
    public var seed = 0

    public var alpha: Float = 0.05
    public var nvp = NVPConfig()
    public var residual = true
    public var iaf = false
    /// The top stage's prior: "learned" (from the decoder's learned constant, as the twin) or
    /// "standard" (N(0, I), Table 6's h ~ N(0, 1); the configs of Tables 2-5).
    public var top_prior = "learned"
    /// VAE stage widths; empty means [32, 64, 128, 256], plus 256 per stage beyond four.
    public var widths: [Int] = []
    public var z = 32
    public var first = 16
    public var free_bits: Float = 0
    public var max_logscale: Float = 4
    /// Discriminator: "residual" or "basic".
    public var disc = "residual"
    public var large_d = false
    /// The residual discriminator's first width; its blocks double it four times (16: MODEL.md).
    public var disc_width = 16
    public var lambda_q: Float = 100
    public var lambda_gp: Float = 100
    /// Discriminator penalty: "wgan-gp" or "r1".
    public var penalty = "wgan-gp"
    /// Adamax for the encoder, decoder and flow.
    public var lr: Float = 0.002
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    /// Adamax for the discriminator (the paper uses the same settings for every network).
    public var d_lr: Float = 0.002
    public var d_beta1: Float = 0.9
    public var d_beta2: Float = 0.999
    /// Decay of the moving average of the VAE's weights that generates (sample grids, the FD
    /// probe, `sample`, `score`) in place of the trained weights, which `eval` bounds (0: none;
    /// with the warm-up, 0.999 averages over about the last ninth of the steps up to step 9,000,
    /// then the last 1,000).
    public var ema_decay: Float = 0
    /// What `train` and `bench` convolve in: "f32", or "bf16" (oneDNN's AVX512_BF16 kernels,
    /// inputs rounded to bfloat16 and sums in float32, on the shapes and passes where they are
    /// faster: `DNNLConvolution.Variant.preferred`). Weights, Adamax, the losses, log-determinants
    /// and the penalty's norm stay float32; `eval`, `sample` and `score` run float32.
    public var precision = "f32"
    /// Importance samples for the evaluation bound (1 = the ELBO).
    public var eval_k = 1

    public var log_every = 10
    public var sample_every = 200
    /// Images in each sample grid (samples/step-N.png and the sample_spread health figure).
    public var sample_grid = 64
    public var checkpoint_every = 500
    /// Parameters are compared across ranks by checksum every this many steps.
    public var checksum_every = 50
    /// A collective that takes longer than this many seconds aborts the job.
    public var stall_timeout: Double = 300
    /// Every this many steps (0: never), FD and IS of `score_images` prior samples against the
    /// test split, in the features of the network at `score_features` (a `classifier` file or
    /// pytorch-fid's Inception); off, with a warning, when that file does not exist.
    public var score_every = 0
    public var score_images = 2000
    public var score_features = ""

    public init() {}

    /// The VAE's stage widths for this image size: one stage per halving down to 4 or 6 pixels.
    public var stageWidths: [Int] {
        if !widths.isEmpty { return widths }
        return [32, 64, 128, 256] + Array(repeating: 256, count: Config.stageCount(imageSize: image_size) - 4)
    }

    /// 4 stages for 32 and 48 (tops at 4 and 6), one more per doubling (64 and 96: 5).
    public static func stageCount(imageSize: Int) -> Int {
        var (n, h) = (4, imageSize)
        while h >= 64 { (n, h) = (n + 1, h / 2) }
        return n
    }

    /// `precision` as the convolution kernels take it (validated).
    public var convolutionPrecision: DNNLConvolution.Precision { DNNLConvolution.Precision(rawValue: precision)! }

    /// Data dimensions D = C * H * W.
    public var dimensions: Int { channels * image_size * image_size }
}

public struct ConfigError: Error, CustomStringConvertible {
    public let description: String
    init(_ message: String) { description = message }
}

extension Config {
    /// The defaults, overlaid by the JSON file at `path` (if any), then by `overrides`, validated.
    public static func load(path: String?, overrides: [(key: String, value: String)]) throws -> Config {
        var tree = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Config())) as! [String: Any]
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigError("config file \(path) cannot be read")
            }
            guard let file = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigError("config file \(path) is not a JSON object")
            }
            try merge(file, into: &tree, prefix: "", source: path)
        }
        for (key, value) in overrides {
            try set(key, text: value, in: &tree)
        }
        // Numbers are read as Double; an Int field given 2.5 would only fail to decode with no field
        // named, and an infinity would pass every range check of `validate`.
        try checkNumbers(tree, against: Config(), prefix: "")
        let config: Config
        do {
            config = try JSONDecoder().decode(Config.self, from: JSONSerialization.data(withJSONObject: tree))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.dataCorrupted(let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError("config field \(field) has the wrong type or value")
        }
        try config.validate()
        return config
    }

    /// Copies `source` over `tree`, refusing keys the defaults do not have.
    private static func merge(_ source: [String: Any], into tree: inout [String: Any], prefix: String, source name: String) throws {
        for (key, value) in source {
            let field = prefix + key
            guard let current = tree[key] else { throw ConfigError("unknown config field '\(field)' in \(name)") }
            if let nested = value as? [String: Any], var inner = current as? [String: Any] {
                try merge(nested, into: &inner, prefix: field + ".", source: name)
                tree[key] = inner
            } else {
                tree[key] = value
            }
        }
    }

    /// Sets the dotted `key` from command-line text, parsed as the type the field already has;
    /// `prefix` is the part of the key already walked, so errors name the whole field.
    private static func set(_ key: String, text: String, in tree: inout [String: Any], prefix: String = "") throws {
        let parts = key.split(separator: ".").map(String.init)
        guard let head = parts.first else { throw ConfigError("empty override key in '\(prefix + key)=\(text)'") }
        guard let current = tree[head] else { throw ConfigError("unknown config field '\(prefix + key)'") }
        if parts.count > 1 {
            guard var inner = current as? [String: Any] else { throw ConfigError("config field '\(prefix + head)' has no field '\(parts[1])'") }
            try set(parts.dropFirst().joined(separator: "."), text: text, in: &inner, prefix: prefix + head + ".")
            tree[head] = inner
            return
        }
        let parsed: Any?
        switch current {
        case is String: parsed = text
        case is [Any]: parsed = text.isEmpty ? [] : text.split(separator: ",").map { Int($0) as Any? }.allSatisfy { $0 != nil }
            ? text.split(separator: ",").map { Int($0)! } : nil
        case let number as NSNumber where String(describing: type(of: number)).contains("Boolean"): parsed = Bool(text)
        case is NSNumber: parsed = Double(text)
        default: parsed = nil
        }
        guard let value = parsed else { throw ConfigError("config field '\(prefix + key)' cannot be '\(text)'") }
        tree[head] = value
    }

    /// Refuses, naming the field, a number that is not finite (an override `inf` or `nan`, 1e999
    /// in a file) and a fractional number for a field whose default is an Int (or [Int]).
    private static func checkNumbers(_ tree: [String: Any], against defaults: Any, prefix: String) throws {
        for child in Mirror(reflecting: defaults).children {
            guard let name = child.label, let value = tree[name] else { continue }
            if let inner = value as? [String: Any] {
                try checkNumbers(inner, against: child.value, prefix: prefix + name + ".")
                continue
            }
            let numbers = (value as? [Any] ?? [value]).compactMap { $0 as? NSNumber }
            if let bad = numbers.first(where: { !$0.doubleValue.isFinite }) {
                throw ConfigError("config field \(prefix + name) must be a finite number, got \(bad)")
            }
            if child.value is Int || child.value is [Int], let bad = numbers.first(where: { Int(exactly: $0.doubleValue) == nil }) {
                throw ConfigError("config field \(prefix + name) must be an integer, got \(bad)")
            }
        }
    }

    /// Refuses settings the model cannot run, naming the field.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw ConfigError(message()) }
        }
        try require([1, 3].contains(channels), "config field channels must be 1 or 3, got \(channels)")
        try require([32, 48, 64, 96].contains(image_size), "config field image_size must be 32, 48, 64 or 96, got \(image_size)")
        // Upper bounds far above any experiment's, so that no config can ask for unbounded memory.
        try require((1...65536).contains(batch), "config field batch must lie in 1...65536, got \(batch)")
        try require(steps >= 0, "config field steps must not be negative, got \(steps)")
        try require(alpha > 0 && alpha < 0.5, "config field alpha must lie in (0, 0.5), got \(alpha)")
        try require((1...4).contains(nvp.scales), "config field nvp.scales must be 1, 2, 3 or 4, got \(nvp.scales)")
        try require(image_size % (1 << (nvp.scales - 1)) == 0, "config field nvp.scales=\(nvp.scales) does not fit image_size \(image_size)")
        try require((0...64).contains(nvp.blocks), "config field nvp.blocks must lie in 0...64, got \(nvp.blocks)")
        try require((1...4096).contains(nvp.filters), "config field nvp.filters must lie in 1...4096, got \(nvp.filters)")
        try require(nvp.bn_eps > 0, "config field nvp.bn_eps must be positive, got \(nvp.bn_eps)")
        try require(nvp.bn_momentum >= 0 && nvp.bn_momentum < 1, "config field nvp.bn_momentum must lie in [0, 1), got \(nvp.bn_momentum)")
        let stages = Config.stageCount(imageSize: image_size)
        try require(widths.isEmpty || widths.count == stages,
                    "config field widths needs \(stages) entries for image_size \(image_size), got \(widths.count)")
        try require(stageWidths.allSatisfy { (1...4096).contains($0) }, "config field widths must lie in 1...4096, got \(stageWidths)")
        try require((1...1024).contains(z) && (1...4096).contains(first), "config fields z and first must lie in 1...1024 and 1...4096, got \(z) and \(first)")
        try require(!iaf || stageWidths.allSatisfy { $0 % z == 0 || z % $0 == 0 },
                    "config fields z and widths: with iaf, z and each stage width must divide one another (the IAF step's masks), got z \(z) and widths \(stageWidths)")
        try require(free_bits >= 0, "config field free_bits must not be negative, got \(free_bits)")
        try require(["learned", "standard"].contains(top_prior), "config field top_prior must be 'learned' or 'standard', got '\(top_prior)'")
        try require(max_logscale > 0, "config field max_logscale must be positive, got \(max_logscale)")
        try require((1...1024).contains(disc_width), "config field disc_width must lie in 1...1024, got \(disc_width)")
        try require(["residual", "basic"].contains(disc), "config field disc must be 'residual' or 'basic', got '\(disc)'")
        try require(lambda_q >= 0, "config field lambda_q must not be negative, got \(lambda_q)")
        try require(lambda_gp >= 0, "config field lambda_gp must not be negative, got \(lambda_gp)")
        try require(["wgan-gp", "r1"].contains(penalty), "config field penalty must be 'wgan-gp' or 'r1', got '\(penalty)'")
        try require(lr > 0 && d_lr > 0, "config fields lr and d_lr must be positive, got \(lr) and \(d_lr)")
        try require([beta1, beta2, d_beta1, d_beta2].allSatisfy { $0 >= 0 && $0 < 1 },
                    "config fields beta1, beta2, d_beta1 and d_beta2 must lie in [0, 1)")
        try require(eps > 0, "config field eps must be positive, got \(eps)")
        try require(ema_decay >= 0 && ema_decay < 1, "config field ema_decay must lie in [0, 1), got \(ema_decay)")
        try require(DNNLConvolution.Precision(rawValue: precision) != nil,
                    "config field precision must be 'f32' or 'bf16', got '\(precision)'")
        try require((1...10000).contains(eval_k), "config field eval_k must lie in 1...10000, got \(eval_k)")
        try require(log_every >= 1 && sample_every >= 1 && checkpoint_every >= 1 && checksum_every >= 1,
                    "config fields log_every, sample_every, checkpoint_every and checksum_every must be at least 1")
        try require((2...1024).contains(sample_grid), "config field sample_grid must lie in 2...1024, got \(sample_grid)")
        try require(stall_timeout > 0, "config field stall_timeout must be positive, got \(stall_timeout)")
        try require(score_every >= 0, "config field score_every must not be negative, got \(score_every)")
        // Ten images at least: the Inception Score takes ten splits.
        try require((10...1_000_000).contains(score_images), "config field score_images must lie in 10...1000000, got \(score_images)")
        try require(score_every == 0 || !score_features.isEmpty, "config field score_every needs score_features, the feature network's file")
    }

    /// The config as pretty JSON (config.json, checkpoint metadata).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(data: try! encoder.encode(self), encoding: .utf8)!
    }
}
