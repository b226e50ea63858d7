// Sample grids: images generated from the priors with fixed noise (so grids of successive
// steps show the same latents evolving), tiled into one PNG with a 1-pixel gap.

extension CQFModel {
    /// `count` generated images as uint8 NHWC, with the noise of `seed` (evaluation-mode flow).
    public func sampleImages(count: Int, seed: Int, batch: Int = 64, progress: ProgressLine? = nil) -> [UInt8] {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(count * config.dimensions)
        var done = 0
        while done < count {
            let n = min(batch, count - done)
            // Noise keyed by the image's index in the whole set of samples, so the set does not depend on `batch`.
            let images = Recording.paused { generate(batch: n, noise: StepNoise(seed: seed, step: 0, firstImage: done)) }
            pixels += toNHWC(quantised(images), channels: config.channels, size: config.image_size)
            done += n
            progress?.advance(by: n)
        }
        progress?.finish()
        return pixels
    }

    /// Writes a square grid of `count` samples to `path` as PNG.
    public func writeSampleGrid(path: String, count: Int = 64, seed: Int) throws {
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
    }
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
