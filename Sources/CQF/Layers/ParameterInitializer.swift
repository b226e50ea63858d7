// Initial parameter values, drawn from the counter-based generator so that rank 0 and a
// single process make the same network from the same seed.

extension PhiloxStream {
    /// Initial weights, counter (parameter number, 0).
    public static let initialization: UInt64 = 4
}

public final class ParameterInitializer {
    private let generator: Philox
    private var drawn: UInt64 = 0

    public init(seed: Int) { generator = Philox(seed: UInt64(seed), stream: PhiloxStream.initialization) }

    /// `count` values uniform in [-bound, bound): PyTorch's default for convolutions and dense
    /// layers uses bound = 1 / sqrt(fan_in) for weights and biases alike.
    public func uniform(count: Int, bound: Float) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { generator.fillUniform($0.baseAddress!, count: count, a: drawn, b: 0) }
        drawn += 1
        return values.map { (2 * $0 - 1) * bound }
    }
}
