// A training checkpoint: one safetensors file that PyTorch, numpy and the `safetensors` package
// read as it is. Tensor names:
//   <parameter name>                 every parameter, named as in its ParameterSet
//                                    ("encoder.stage0.conv1.weight"); each set claims a prefix
//                                    ("encoder.") that all its names start with and no other set's does
//   optimizer.<parameter name>.m     Adamax's first moment m for that parameter
//   optimizer.<parameter name>.u     Adamax's infinity norm u (Kingma & Ba, Algorithm 2)
//   average.<parameter name>         its moving average (config field ema_decay > 0), which
//                                    generates samples in place of the trained value
//   <buffer name>                    saved state that is not trained (batch-norm running averages)
// so `{k: v for k, v in f.items() if not k.startswith(("optimizer.", "average."))}` is the
// trained model alone. Metadata (strings): `format_version`, `step`, `optimizer.<prefix>step`
// (each Adamax's own step count), `average.<prefix>updates`, and the trainer's entries under
// the keys of `Checkpoint.Key` (config JSON, data position, RNG state). Loading checks every
// name and shape before it copies anything.
import Foundation

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct Checkpoint {
    /// One network's parameters, the prefix all their names start with, its optimizer, if
    /// trained, and the moving average of its weights, if kept.
    public typealias ParameterGroup = (prefix: String, parameters: ParameterSet, optimizer: Adamax?, average: WeightAverage?)

    /// Which values `restore` puts in the parameters.
    public enum Weights {
        /// The trained values (to resume training).
        case trained
        /// Each parameter's moving average where the checkpoint has one, else its trained value (to generate).
        case averaged
    }

    /// Bumped when the naming or the metadata changes meaning; older files are refused by name.
    public static let formatVersion = 1

    /// Metadata keys the trainer fills (any other string keys are kept as they are).
    public enum Key {
        public static let config = "config"
        public static let dataPosition = "data_position"
        public static let rngState = "rng_state"
    }

    static let optimizerPrefix = "optimizer."
    static let averagePrefix = "average."
    static let reservedKeys: Set<String> = ["format_version", "step"]

    public let path: String
    /// The training step the checkpoint was taken after.
    public let step: Int
    /// The trainer's metadata (the `Key` entries and any others), without the format's own keys.
    public let metadata: [String: String]
    let file: SafeTensorsFile

    /// Writes a checkpoint to `path` atomically (through `path.tmp` and a rename).
    public static func save(path: String, step: Int, parameterSets: [ParameterGroup], buffers: [(name: String, tensor: Tensor)],
                            metadata: [String: String]) throws {
        try checkNames(parameterSets, buffers, file: path)
        var entries: [SafeTensors.Entry] = []
        var fileMetadata = metadata
        if let key = metadata.keys.sorted().first(where: { reservedKeys.contains($0) || isStateName($0) }) {
            throw CheckpointError("Cannot write checkpoint \(path): the metadata key '\(key)' is reserved for the checkpoint format.")
        }
        fileMetadata["format_version"] = String(formatVersion)
        fileMetadata["step"] = String(step)
        for group in parameterSets {
            for parameter in group.parameters.parameters {
                entries.append((parameter.name, parameter.shape, UnsafePointer(parameter.tensor.data)))
            }
        }
        for group in parameterSets {
            guard let optimizer = group.optimizer else { continue }
            fileMetadata[optimizerPrefix + group.prefix + "step"] = String(optimizer.step)
            for parameter in group.parameters.parameters {
                entries.append((optimizerPrefix + parameter.name + ".m", parameter.shape, UnsafePointer(optimizer.firstMoment.pointer + parameter.offset)))
                entries.append((optimizerPrefix + parameter.name + ".u", parameter.shape, UnsafePointer(optimizer.infinityNorm.pointer + parameter.offset)))
            }
        }
        for group in parameterSets {
            guard let average = group.average else { continue }
            fileMetadata[averagePrefix + group.prefix + "updates"] = String(average.updates)
            for parameter in group.parameters.parameters {
                entries.append((averagePrefix + parameter.name, parameter.shape, UnsafePointer(average.values.pointer + parameter.offset)))
            }
        }
        for buffer in buffers {
            entries.append((buffer.name, buffer.tensor.shape, UnsafePointer(buffer.tensor.data)))
        }
        try SafeTensors.write(path: path, tensors: entries, metadata: fileMetadata)
    }

    /// Opens the checkpoint at `path` and reads its step and metadata; `restore` copies the tensors.
    public static func load(path: String) throws -> Checkpoint {
        let file = try SafeTensors.read(path: path)
        guard let version = file.metadata["format_version"] else {
            throw CheckpointError("\(path) is not a CQF checkpoint: its metadata has no format_version.")
        }
        guard version == String(formatVersion) else {
            throw CheckpointError("Checkpoint \(path) has format version \(version), expected \(formatVersion).")
        }
        guard let stepText = file.metadata["step"], let step = Int(stepText), step >= 0 else {
            throw CheckpointError("Checkpoint \(path) has no valid step in its metadata, expected a non-negative integer.")
        }
        return Checkpoint(path: path, step: step, metadata: file.metadata.filter { key, _ in
            !reservedKeys.contains(key) && !isStateName(key)
        }, file: file)
    }

    /// Names of the optimizers' and the averages' state, which is not the model's own.
    static func isStateName(_ name: String) -> Bool { name.hasPrefix(optimizerPrefix) || name.hasPrefix(averagePrefix) }

    /// Copies the checkpoint into the model: every parameter of `parameterSets` (the trained
    /// values, or with `.averaged` their moving averages where the file has them), the moments
    /// and step of each optimizer given (pass nil to load weights alone, as `eval` does), the
    /// average of each network that keeps one (started at its weights when the file has none:
    /// averaging turned on at a resume), and every buffer. The checkpoint's model tensors must be
    /// exactly these, with the same shapes; otherwise nothing is copied and the error names the
    /// first tensor that differs.
    public func restore(parameterSets: [ParameterGroup], buffers: [(name: String, tensor: Tensor)], weights: Weights = .trained) throws {
        try Checkpoint.checkNames(parameterSets, buffers, file: path)
        var targets: [(name: String, shape: [Int], destination: UnsafeMutablePointer<Float>)] = []
        var optimizerSteps: [(Adamax, Int)] = []
        // nil updates: the file has no average, which then starts at the group's weights.
        var averageUpdates: [(weights: ParameterSet, average: WeightAverage, updates: Int?)] = []
        for group in parameterSets {
            let updatesKey = Checkpoint.averagePrefix + group.prefix + "updates"
            let averaged = file.metadata[updatesKey] != nil
            for parameter in group.parameters.parameters {
                let name = (weights == .averaged && averaged ? Checkpoint.averagePrefix : "") + parameter.name
                targets.append((name, parameter.shape, parameter.tensor.data))
            }
            if let average = group.average, averaged {
                guard let updates = Int(file.metadata[updatesKey]!), updates >= 0 else {
                    throw CheckpointError("Checkpoint \(path) has no valid \(updatesKey) in its metadata, expected a non-negative integer.")
                }
                averageUpdates.append((group.parameters, average, updates))
                for parameter in group.parameters.parameters {
                    targets.append((Checkpoint.averagePrefix + parameter.name, parameter.shape, average.values.pointer + parameter.offset))
                }
            } else if let average = group.average {
                averageUpdates.append((group.parameters, average, nil))
            }
            guard let optimizer = group.optimizer else { continue }
            let key = Checkpoint.optimizerPrefix + group.prefix + "step"
            guard let text = file.metadata[key], let step = Int(text) else {
                throw CheckpointError("Checkpoint \(path) has no optimizer state for '\(group.prefix)': its metadata lacks \(key).")
            }
            optimizerSteps.append((optimizer, step))
            for parameter in group.parameters.parameters {
                targets.append((Checkpoint.optimizerPrefix + parameter.name + ".m", parameter.shape, optimizer.firstMoment.pointer + parameter.offset))
                targets.append((Checkpoint.optimizerPrefix + parameter.name + ".u", parameter.shape, optimizer.infinityNorm.pointer + parameter.offset))
            }
        }
        for buffer in buffers {
            targets.append((buffer.name, buffer.tensor.shape, buffer.tensor.data))
        }

        for target in targets {
            guard let info = file.tensors[target.name] else {
                throw CheckpointError("Checkpoint \(path) does not match the model: it has no tensor '\(target.name)'.")
            }
            guard info.shape == target.shape, info.dtype == .f32 else {
                throw CheckpointError("Checkpoint \(path) does not match the model: tensor '\(target.name)' is \(info.dtype.rawValue) \(info.shape), expected F32 \(target.shape).")
            }
        }
        let modelNames = Set(parameterSets.flatMap { $0.parameters.parameters.map(\.name) } + buffers.map(\.name))
        if let extra = file.names.first(where: { !modelNames.contains($0) && !Checkpoint.isStateName($0) }) {
            throw CheckpointError("Checkpoint \(path) does not match the model: the model has no tensor '\(extra)'.")
        }

        for target in targets {
            try file.copy(target.name, into: target.destination, count: target.shape.reduce(1, *))
        }
        for (optimizer, step) in optimizerSteps { optimizer.restore(step: step) }
        for (weights, average, updates) in averageUpdates {
            if let updates {
                average.restore(updates: updates)
            } else {
                average.values.pointer.update(from: weights.values.pointer, count: weights.count)
            }
        }
    }

    /// Refuses prefixes that overlap, parameters outside their set's prefix, and names used twice.
    private static func checkNames(_ groups: [ParameterGroup], _ buffers: [(name: String, tensor: Tensor)], file: String) throws {
        for (i, a) in groups.enumerated() {
            guard !a.prefix.isEmpty, !isStateName(a.prefix) else {
                throw CheckpointError("Checkpoint \(file): the prefix '\(a.prefix)' must be non-empty and must not start with '\(optimizerPrefix)' or '\(averagePrefix)'.")
            }
            for b in groups[(i + 1)...] where a.prefix.hasPrefix(b.prefix) || b.prefix.hasPrefix(a.prefix) {
                throw CheckpointError("Checkpoint \(file): the prefixes '\(a.prefix)' and '\(b.prefix)' overlap, so their names could collide.")
            }
            if let stray = a.parameters.parameters.first(where: { !$0.name.hasPrefix(a.prefix) }) {
                throw CheckpointError("Checkpoint \(file): parameter '\(stray.name)' does not start with its set's prefix '\(a.prefix)'.")
            }
        }
        var seen = Set<String>()
        for name in groups.flatMap({ $0.parameters.parameters.map(\.name) }) + buffers.map(\.name) {
            guard !isStateName(name), seen.insert(name).inserted else {
                throw CheckpointError("Checkpoint \(file): the tensor name '\(name)' is used twice or starts with '\(optimizerPrefix)' or '\(averagePrefix)'.")
            }
        }
    }
}
