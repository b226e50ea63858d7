// The noise of one training step, drawn per image from the counter-based generator keyed by
// (seed, step, global image index): a rank's noise does not depend on how many ranks there
// are, and a resumed run draws exactly what an uninterrupted one would.

extension PhiloxStream {
    /// Latents of stage i sampled from the posterior: stream base + i.
    static let posteriorLatents: UInt64 = 16
    /// Latents of stage i sampled from the prior (generation): stream base + i.
    static let priorLatents: UInt64 = 48
    /// The interpolation weight a of the gradient penalty.
    static let penaltyInterpolation: UInt64 = 5
}

public struct StepNoise {
    public let seed: Int
    public let step: Int
    /// The global index of this rank's first image in the batch.
    public let firstImage: Int

    public init(seed: Int, step: Int, firstImage: Int) {
        self.seed = seed
        self.step = step
        self.firstImage = firstImage
    }

    /// Standard normals of `shape` (N, ...), image n drawn from counter (step, firstImage + n).
    func normal(stream: UInt64, shape: [Int]) -> Tensor { draw(stream: stream, shape: shape, normal: true) }

    /// U[0, 1) values likewise.
    func uniform(stream: UInt64, shape: [Int]) -> Tensor { draw(stream: stream, shape: shape, normal: false) }

    private func draw(stream: UInt64, shape: [Int], normal: Bool) -> Tensor {
        let generator = Philox(seed: UInt64(seed), stream: stream)
        let out = Tensor(uninitialized: shape)
        let perImage = out.count / shape[0]
        forEachChunk(shape[0], minimum: max(1, (1 << 14) / perImage)) { images in
            for n in images {
                let (target, b) = (out.data + n * perImage, UInt64(firstImage + n))
                if normal { generator.fillNormal(target, count: perImage, a: UInt64(step), b: b) }
                else { generator.fillUniform(target, count: perImage, a: UInt64(step), b: b) }
            }
        }
        return out
    }

    func posteriorLatents() -> LatentNoise { { self.normal(stream: PhiloxStream.posteriorLatents + UInt64($0), shape: $1) } }
    func priorLatents() -> LatentNoise { { self.normal(stream: PhiloxStream.priorLatents + UInt64($0), shape: $1) } }
}
