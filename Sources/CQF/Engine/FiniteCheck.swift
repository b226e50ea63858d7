// The `--debug` guard: after every op, look for NaN or Inf and stop at the first one with the
// op and the layer that made it, instead of letting it spread into every loss.

public struct NonFiniteValue: Error, CustomStringConvertible {
    public let description: String
}

public enum FiniteCheck {
    nonisolated(unsafe) public static var isOn = false
    /// The layer names entered so far (`vae.decoder.stage2`), innermost last.
    nonisolated(unsafe) static var scopes: [String] = []
    /// The first non-finite value seen, kept until the trainer asks (ops cannot throw).
    nonisolated(unsafe) public static var firstFailure: NonFiniteValue?

    /// Runs `body` with `name` as the current layer, for the message of a failed check.
    @inline(__always)
    public static func within<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        guard isOn else { return try body() }
        scopes.append(name)
        defer { scopes.removeLast() }
        return try body()
    }

    static func check(_ tensor: Tensor, op: String) {
        guard firstFailure == nil else { return }
        let values = UnsafeBufferPointer(start: tensor.data, count: tensor.count)
        guard let index = values.firstIndex(where: { !$0.isFinite }) else { return }
        let place = scopes.isEmpty ? "" : " in \(scopes.joined(separator: "/"))"
        firstFailure = NonFiniteValue(description:
            "\(values[index]) at element \(index) of the \(tensor.shape) output of \(op)\(place)")
    }

    /// Throws the first failure recorded since the last call, if any.
    public static func throwIfFailed() throws {
        if let failure = firstFailure {
            firstFailure = nil
            throw failure
        }
    }
}
