// Reverse-mode differentiation in the shape of `torch.autograd.grad`. Each op that sees an
// input requiring gradients records a Node: its inputs and a backward rule. Backward rules
// are written with the same differentiable ops as the forward pass, so running them while
// recording (`createGraph: true`) yields a graph of the gradient itself: gradients of
// gradients (the WGAN-GP penalty) need no special code. Without `createGraph` the rules run
// with recording off: nothing of the backward pass is kept.

/// What a backward rule reads besides the output's gradient: one of the op's inputs, or its output.
enum Saved { case input(Int), output }

/// What a backward rule gets: the gradient of the output, the values the op saved for it (the
/// others are not kept: a sum does not hold on to its input), every input's shape, and which
/// inputs need a gradient (rules skip the others: a weight gradient nobody asked for is not computed).
struct BackwardContext {
    let gradient: Tensor
    let op: String
    let saved: [Tensor?]
    let savedOutput: Tensor?
    let shapes: [[Int]]
    let needs: [Bool]

    /// Input `i`, which the op must have listed as used by its rule.
    func input(_ i: Int) -> Tensor {
        guard let tensor = saved[i] else { preconditionFailure("The backward rule of \(op) reads input \(i), which it did not save.") }
        return tensor
    }

    /// The op's output, which the op must have listed as used by its rule.
    var output: Tensor {
        guard let savedOutput else { preconditionFailure("The backward rule of \(op) reads its output, which it did not save.") }
        return savedOutput
    }
}

typealias BackwardRule = (BackwardContext) -> [Tensor?]

/// Where an input's gradient goes: to the node that computed it, to a leaf (a parameter, or
/// an input whose gradient is wanted), or nowhere (a constant).
enum Edge {
    case node(Node)
    case leaf(Tensor)
    case constant

    /// The key of the tensor at the end of the edge in `grad`'s tables.
    var key: ObjectIdentifier? {
        switch self {
        case .node(let node): ObjectIdentifier(node)
        case .leaf(let tensor): ObjectIdentifier(tensor)
        case .constant: nil
        }
    }
}

/// A recorded op. It points to its inputs' nodes rather than to the input tensors, so an
/// activation that no backward rule reads is freed as soon as the forward pass drops it; the
/// values a rule does read are saved here, as PyTorch saves tensors for backward.
final class Node {
    let op: String
    private(set) var edges: [Edge]
    let shapes: [[Int]]
    private var saved: [Tensor?]
    /// The output's buffer when the rule reads the output. Not the output tensor itself, which
    /// holds this node: it is rebuilt around the buffer when the rule runs.
    private var savedOutput: (storage: Storage, shape: [Int], offset: Int)?
    private var backward: BackwardRule?
    /// Set by `channels(_:)`: the channels of its input that its output holds. Without
    /// createGraph, `grad` adds the output's gradient straight into those channels of the input's
    /// gradient instead of running the rule, whose zero-padded copy of the whole input it would
    /// then add: a tensor sliced four ways (the decoder's prior conv) took four such copies and
    /// three sums of the whole.
    var channelSlice: Range<Int>?

    init(op: String, inputs: [Tensor], output: Tensor, uses: [[Saved]], backward: @escaping BackwardRule) {
        precondition(uses.count == inputs.count, "\(op) lists what its rule reads for \(uses.count) of \(inputs.count) inputs.")
        self.op = op
        edges = inputs.map { $0.requiresGrad ? ($0.node.map(Edge.node) ?? .leaf($0)) : .constant }
        shapes = inputs.map(\.shape)
        // Only the gradients that can be asked for will run: save what those read.
        let used = zip(inputs, uses).filter { $0.0.requiresGrad }.flatMap(\.1)
        saved = inputs.indices.map { i in used.contains { if case .input(i) = $0 { true } else { false } } ? inputs[i] : nil }
        if used.contains(where: { if case .output = $0 { true } else { false } }) {
            savedOutput = (output.storage, output.shape, output.offset)
        }
        self.backward = backward
    }

    /// Runs the rule; the output it reads is rebuilt on this node, so a recorded backward pass
    /// (createGraph) differentiates through it.
    func run(gradient: Tensor, needs: [Bool]) -> [Tensor?] {
        guard let backward else { preconditionFailure("The graph through \(op) was freed by an earlier grad(of:); pass retainGraph: true to it.") }
        let output = savedOutput.map { saved in
            let tensor = Tensor(shape: saved.shape, storage: saved.storage, offset: saved.offset, requiresGrad: true)
            tensor.node = self
            return tensor
        }
        return backward(BackwardContext(gradient: gradient, op: op, saved: saved, savedOutput: output, shapes: shapes, needs: needs))
    }

    /// Frees what the backward pass no longer needs (without retainGraph).
    func release() {
        edges = []
        saved = []
        savedOutput = nil
        backward = nil
    }
}

/// Whether ops record themselves. Training runs on one thread per rank.
public enum Recording {
    nonisolated(unsafe) static var isOn = true

    /// Runs `body` with recording off (evaluation, optimizer steps, backward without createGraph).
    public static func paused<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isOn
        isOn = false
        defer { isOn = saved }
        return try body()
    }

    static func set<T>(_ on: Bool, _ body: () throws -> T) rethrows -> T {
        let saved = isOn
        isOn = on
        defer { isOn = saved }
        return try body()
    }
}

/// Attaches `op` to `output` when recording is on and some input requires gradients, after the
/// debug check for non-finite values. `uses[i]` lists what the rule reads to compute input i's
/// gradient: only those values are saved. Every op ends here.
@inline(__always)
func record(_ output: Tensor, _ op: String, _ inputs: [Tensor], uses: [[Saved]], _ backward: @escaping BackwardRule) -> Tensor {
    if FiniteCheck.isOn { FiniteCheck.check(output, op: op) }
    OpTimes.lap(op)
    if Recording.isOn && inputs.contains(where: { $0.requiresGrad }) {
        output.node = Node(op: op, inputs: inputs, output: output, uses: uses, backward: backward)
        output.requiresGrad = true
    }
    return output
}

/// The gradients of the scalar `output` with respect to each of `inputs` (zeros where it does
/// not depend on one). With `createGraph` the result is itself recorded and can be
/// differentiated again. Unless `retainGraph` (which `createGraph` implies), the graph under
/// `output` is taken apart as the backward pass walks it, as in PyTorch: each saved activation
/// is freed once its rule has run, instead of all of them at the end of the step.
public func grad(of output: Tensor, wrt inputs: [Tensor], createGraph: Bool = false, retainGraph: Bool? = nil) -> [Tensor] {
    let retain = retainGraph ?? createGraph
    precondition(output.count == 1, "grad(of:) needs a scalar, got shape \(output.shape).")
    let key = { (tensor: Tensor) in tensor.node.map(ObjectIdentifier.init) ?? ObjectIdentifier(tensor) }
    var order = output.node.map(topologicalOrder) ?? []
    // A node needs a gradient when one of `inputs` lies under it.
    var needed = Set(inputs.map(key))
    for node in order where node.edges.contains(where: { $0.key.map(needed.contains) ?? false }) {
        needed.insert(ObjectIdentifier(node))
    }
    var gradients: [ObjectIdentifier: Tensor] = [key(output): Tensor(shape: output.shape, repeating: 1)]
    // The gradients made here, by sums and slices, which nothing else holds: slices add into them in place.
    var owned = Set<ObjectIdentifier>()
    Recording.set(createGraph) {
        while let node = order.popLast() {
            let id = ObjectIdentifier(node)
            guard needed.contains(id), let gradient = gradients[id] else { continue }
            let needs = node.edges.map { $0.key.map(needed.contains) ?? false }
            if !createGraph, let slice = node.channelSlice {
                if needs[0], let target = node.edges[0].key {
                    gradients[target] = OpTimes.within("backward of " + node.op, before: "autodiff") {
                        gradient.addedToChannels(slice, of: gradients[target], shape: node.shapes[0], inPlace: owned.contains(target))
                    }
                    owned.insert(target)
                }
            } else {
                let inputGradients = FiniteCheck.within("backward of \(node.op)") {
                    OpTimes.within("backward of " + node.op, before: "autodiff") { node.run(gradient: gradient, needs: needs) }
                }
                for (i, edge) in node.edges.enumerated() where needs[i] {
                    guard let g = inputGradients[i], let target = edge.key else { continue }
                    precondition(g.shape == node.shapes[i], "The backward rule of \(node.op) gave shape \(g.shape) for input \(node.shapes[i]).")
                    if let existing = gradients[target] {
                        gradients[target] = OpTimes.within("autodiff: gradient sums", before: "autodiff") { existing + g }
                        owned.insert(target)
                    } else {
                        // A rule's gradient may be held elsewhere too (add's is its output's).
                        gradients[target] = g
                        owned.remove(target)
                    }
                }
            }
            if !createGraph { gradients[id] = nil; owned.remove(id) }
            if !retain { node.release() }
        }
    }
    return inputs.map { gradients[key($0)] ?? Tensor(shape: $0.shape, repeating: 0) }
}

/// Every node under `root`, each after all of its inputs' nodes (explicit stack: graphs are deep).
private func topologicalOrder(from root: Node) -> [Node] {
    var order: [Node] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Node, Bool)] = [(root, false)]
    while let (node, expanded) = stack.popLast() {
        if expanded { order.append(node); continue }
        guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
        stack.append((node, true))
        for case .node(let input) in node.edges where !visited.contains(ObjectIdentifier(input)) {
            stack.append((input, false))
        }
    }
    return order
}
