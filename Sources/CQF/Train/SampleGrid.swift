// Sample grids: images generated from the priors with fixed noise (so grids of successive
// steps show the same latents evolving), tiled into one PNG with a 1-pixel gap.

extension CQFModel {
    /// Samples are drawn in chunks of this many images, at multiples of it in the whole set: a
    /// convolution's float sums may depend on its batch, so a fixed chunking makes image i the
    /// same bytes whichever command draws it (`sample`, `score --checkpoint`, training's FD).
    public static let sampleChunk = 64

    /// Generated images first..<first + count as uint8 NCHW, with the noise of `seed`
    /// (evaluation-mode flow); `count` is at most one chunk, and `first` starts a chunk.
    public func sampleChunk(first: Int, count: Int, seed: Int) -> [UInt8] {
        precondition(first % CQFModel.sampleChunk == 0 && count <= CQFModel.sampleChunk,
                     "sampleChunk: images \(first)..<\(first + count) are not one chunk of \(CQFModel.sampleChunk).")
        // Noise keyed by the image's index in the whole set of samples, so the set does not depend on the chunks either.
        return quantised(Recording.paused { generate(batch: count, noise: StepNoise(seed: seed, step: 0, firstImage: first)) })
    }

    /// `count` generated images as uint8 NHWC, with the noise of `seed`, handed to `body` a
    /// chunk at a time, so that no more than a chunk is held (`sample --count N` for any N).
    public func sampleImages(count: Int, seed: Int, progress: ProgressLine? = nil, _ body: ([UInt8]) throws -> Void) rethrows {
        for first in stride(from: 0, to: count, by: CQFModel.sampleChunk) {
            let n = min(CQFModel.sampleChunk, count - first)
            try body(toNHWC(sampleChunk(first: first, count: n, seed: seed), channels: config.channels, size: config.image_size))
            progress?.advance(by: n)
        }
        progress?.finish()
    }

    /// `count` generated images as uint8 NHWC, with the noise of `seed`.
    public func sampleImages(count: Int, seed: Int) -> [UInt8] {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(count * config.dimensions)
        sampleImages(count: count, seed: seed) { pixels += $0 }
        return pixels
    }

    /// Writes a square grid of `count` samples to `path` as PNG. Returns the grid's size and the
    /// samples' spread: each pixel's standard deviation over them, averaged over pixels (0-255;
    /// near 0 when the samples are all alike).
    @discardableResult
    public func writeSampleGrid(path: String, count: Int = 64, seed: Int) throws -> (width: Int, height: Int, spread: Double) {
        let images = sampleImages(count: count, seed: seed)
        let (c, s) = (config.channels, config.image_size)
        let columns = Int(Double(count).squareRoot().rounded(.up))
        let rows = (count + columns - 1) / columns
        let (width, height) = (columns * (s + 1) + 1, rows * (s + 1) + 1)
        var grid = [UInt8](repeating: 255, count: width * height * c)
        for i in 0..<count {
            let (top, left) = (1 + (i / columns) * (s + 1), 1 + (i % columns) * (s + 1))
            for y in 0..<s {
                let source = (i * s + y) * s * c
                let target = ((top + y) * width + left) * c
                grid.replaceSubrange(target..<target + s * c, with: images[source..<source + s * c])
            }
        }
        try writePNG(path: path, pixels: grid, width: width, height: height, channels: c)
        return (width, height, pixelSpread(images, count: count))
    }
}

/// Each pixel's standard deviation over `count` images (any layout in which a pixel keeps its
/// place in every image), averaged over pixels.
func pixelSpread(_ images: [UInt8], count: Int) -> Double {
    let pixels = images.count / count
    var total = 0.0
    for p in 0..<pixels {
        var (sum, squares) = (0.0, 0.0)
        for i in 0..<count {
            let v = Double(images[i * pixels + p])
            (sum, squares) = (sum + v, squares + v * v)
        }
        let mean = sum / Double(count)
        total += max(squares / Double(count) - mean * mean, 0).squareRoot()
    }
    return total / Double(pixels)
}

/// NCHW bytes to NHWC (the order of PNG rows and of the `.npz` FID tools read).
func toNHWC(_ nchw: [UInt8], channels c: Int, size s: Int) -> [UInt8] {
    guard c > 1 else { return nchw }
    var out = [UInt8](repeating: 0, count: nchw.count)
    let image = c * s * s
    for n in 0..<nchw.count / image { for ch in 0..<c { for p in 0..<s * s {
        out[n * image + p * c + ch] = nchw[n * image + ch * s * s + p]
    } } }
    return out
}
