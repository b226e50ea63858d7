// All parameters of a network in one flat buffer with named views, and their gradients in a
// second buffer laid out the same way: the allreduce is one call per network, the optimizer
// one loop, a checkpoint one write.

/// A named parameter. Its tensor is a view into the network's flat buffer once the set is built.
public final class Parameter {
    public let name: String
    public let shape: [Int]
    /// Where the parameter starts in the flat buffer.
    public internal(set) var offset = 0
    public internal(set) var tensor: Tensor!
    fileprivate var initialValues: [Float]?

    init(name: String, shape: [Int], initialValues: [Float]) {
        precondition(initialValues.count == shape.reduce(1, *), "Parameter \(name): \(initialValues.count) values for shape \(shape).")
        self.name = name
        self.shape = shape
        self.initialValues = initialValues
    }

    public var count: Int { shape.reduce(1, *) }
}

/// The parameters of one network. Layers declare theirs while the network is built; `build()`
/// then lays them out in one buffer.
public final class ParameterSet {
    public private(set) var parameters: [Parameter] = []
    public private(set) var values: Storage!
    public private(set) var gradients: Storage!
    /// State that is saved but not trained (batch-norm running averages).
    public private(set) var buffers: [(name: String, tensor: Tensor)] = []
    private var byName: [String: Parameter] = [:]
    /// The network's name, which starts every parameter's and buffer's name ("encoder.").
    public let name: String

    public init(name: String = "") { self.name = name }

    private func qualified(_ name: String) -> String { self.name.isEmpty ? name : "\(self.name).\(name)" }

    /// Declares a parameter; names must be unique within the set.
    public func declare(_ name: String, shape: [Int], values: [Float]) -> Parameter {
        let name = qualified(name)
        precondition(self.values == nil, "Parameter \(name) declared after the set was built.")
        precondition(byName[name] == nil, "Parameter \(name) is declared twice.")
        let parameter = Parameter(name: name, shape: shape, initialValues: values)
        parameters.append(parameter)
        byName[name] = parameter
        return parameter
    }

    /// Declares a buffer: saved in checkpoints, never differentiated.
    public func declareBuffer(_ name: String, shape: [Int], value: Float) -> Tensor {
        let name = qualified(name)
        precondition(!buffers.contains { $0.name == name }, "Buffer \(name) is declared twice.")
        let tensor = Tensor(shape: shape, repeating: value)
        buffers.append((name, tensor))
        return tensor
    }

    /// Lays the parameters out in one buffer, in declaration order, and makes their views.
    public func build() {
        let total = parameters.reduce(0) { $0 + $1.count }
        values = Storage(count: total)
        gradients = Storage(count: total)
        gradients.pointer.update(repeating: 0, count: total)
        var offset = 0
        for parameter in parameters {
            parameter.offset = offset
            parameter.initialValues!.withUnsafeBufferPointer { (values.pointer + offset).update(from: $0.baseAddress!, count: parameter.count) }
            parameter.initialValues = nil
            parameter.tensor = Tensor(shape: parameter.shape, storage: values, offset: offset, requiresGrad: true)
            offset += parameter.count
        }
    }

    public var count: Int { values.count }
    public subscript(name: String) -> Parameter? { byName[name] }
    public var tensors: [Tensor] { parameters.map { $0.tensor } }

    /// Copies computed gradients (one per parameter, in order) into the flat gradient buffer.
    public func storeGradients(_ computed: [Tensor]) {
        precondition(computed.count == parameters.count, "\(computed.count) gradients for \(parameters.count) parameters.")
        for (parameter, gradient) in zip(parameters, computed) {
            (gradients.pointer + parameter.offset).update(from: gradient.data, count: parameter.count)
        }
    }
}
