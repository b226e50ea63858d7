// Reverse-mode differentiation in the shape of `torch.autograd.grad`. Each op that sees an
// input requiring gradients records a Node: its inputs and a backward rule. Backward rules
// are written with the same differentiable ops as the forward pass, so running them while
// recording (`createGraph: true`) yields a graph of the gradient itself: gradients of
// gradients (the WGAN-GP penalty) need no special code. Without `createGraph` the rules run
// with recording off: nothing of the backward pass is kept.

/// What a backward rule gets: the gradient of the output, the op's inputs and output, and which
/// inputs need a gradient (rules skip the others: a weight gradient nobody asked for is not computed).
struct BackwardContext {
    let gradient: Tensor
    let inputs: [Tensor]
    let output: Tensor
    let needs: [Bool]
}

typealias BackwardRule = (BackwardContext) -> [Tensor?]

final class Node {
    let op: String
    let inputs: [Tensor]
    let backward: BackwardRule

    init(op: String, inputs: [Tensor], backward: @escaping BackwardRule) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
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
/// debug check for non-finite values. Every op ends here.
@inline(__always)
func record(_ output: Tensor, _ op: String, _ inputs: [Tensor], _ backward: @escaping BackwardRule) -> Tensor {
    if FiniteCheck.isOn { FiniteCheck.check(output, op: op) }
    if Recording.isOn && inputs.contains(where: { $0.requiresGrad }) {
        output.node = Node(op: op, inputs: inputs, backward: backward)
        output.requiresGrad = true
    }
    return output
}

/// The gradients of the scalar `output` with respect to each of `inputs` (zeros where it does
/// not depend on one). With `createGraph` the result is itself recorded and can be
/// differentiated again. Unless `retainGraph` (which `createGraph` implies), the graph under
/// `output` is taken apart as the backward pass walks it, as in PyTorch: each activation is
/// freed once its rule has run, instead of all of them at the end of the step.
public func grad(of output: Tensor, wrt inputs: [Tensor], createGraph: Bool = false, retainGraph: Bool? = nil) -> [Tensor] {
    let retain = retainGraph ?? createGraph
    precondition(output.count == 1, "grad(of:) needs a scalar, got shape \(output.shape).")
    var order = topologicalOrder(from: output)
    // A tensor needs a gradient when one of `inputs` lies under it.
    var needed = Set(inputs.map(ObjectIdentifier.init))
    for tensor in order {
        if let node = tensor.node, node.inputs.contains(where: { needed.contains(ObjectIdentifier($0)) }) {
            needed.insert(ObjectIdentifier(tensor))
        }
    }
    var gradients: [ObjectIdentifier: Tensor] = [ObjectIdentifier(output): Tensor(shape: output.shape, repeating: 1)]
    Recording.set(createGraph) {
        while let tensor = order.popLast() {
            guard let node = tensor.node, needed.contains(ObjectIdentifier(tensor)),
                  let gradient = gradients[ObjectIdentifier(tensor)] else { continue }
            let needs = node.inputs.map { $0.requiresGrad && needed.contains(ObjectIdentifier($0)) }
            let inputGradients = FiniteCheck.within("backward of \(node.op)") {
                node.backward(BackwardContext(gradient: gradient, inputs: node.inputs, output: tensor, needs: needs))
            }
            for (i, input) in node.inputs.enumerated() where needs[i] {
                guard let g = inputGradients[i] else { continue }
                precondition(g.shape == input.shape, "The backward rule of \(node.op) gave shape \(g.shape) for input \(input.shape).")
                let key = ObjectIdentifier(input)
                gradients[key] = gradients[key].map { $0 + g } ?? g
            }
            if !createGraph { gradients[ObjectIdentifier(tensor)] = nil }
            if !retain { tensor.node = nil }
        }
    }
    return inputs.map { gradients[ObjectIdentifier($0)] ?? Tensor(shape: $0.shape, repeating: 0) }
}

/// Every recorded tensor under `root`, each after all of its inputs (explicit stack: graphs are deep).
private func topologicalOrder(from root: Tensor) -> [Tensor] {
    var order: [Tensor] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Tensor, Bool)] = [(root, false)]
    while let (tensor, expanded) = stack.popLast() {
        if expanded { order.append(tensor); continue }
        guard visited.insert(ObjectIdentifier(tensor)).inserted else { continue }
        stack.append((tensor, true))
        for input in tensor.node?.inputs ?? [] where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
            stack.append((input, false))
        }
    }
    return order
}
