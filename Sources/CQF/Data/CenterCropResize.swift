// Center crop to a square, then resize with an antialiasing filter: the geometry every
// variable-size source (CelebA folders, LSUN) and `prepare --size/--crop` goes through.
//
// The filter is the triangle (bilinear) kernel widened by the reduction factor when shrinking,
// as PIL's `Image.resize(..., BILINEAR)` does: every input pixel under an output pixel counts,
// so a 178 -> 96 or 256 -> 64 reduction does not alias. It is separable: rows first into a
// float buffer, then columns. Resizing a crop to its own size is an exact copy.

/// A reusable resizer: it keeps its filter table and scratch buffer between images of the
/// same size, so a stream of images allocates nothing per image.
public final class CenterCropResizer {
    public let outputSize: Int
    /// One table serves rows and columns: the crop is square.
    private var table: ResampleTable?
    private var scratch: UnsafeMutablePointer<Float>
    private var scratchCount = 0

    public init(outputSize: Int) {
        precondition(outputSize > 0, "CenterCropResizer: the output size must be positive, got \(outputSize).")
        self.outputSize = outputSize
        scratch = .allocate(capacity: 1)
    }

    deinit { scratch.deallocate() }

    /// Resizes the `side` x `side` square at (`left`, `top`) of an image whose pixel (c, y, x) is
    /// at `input[y * rowStride + x * pixelStride + c * channelStride]` into `output`, planar CHW of
    /// `channels` x outputSize x outputSize bytes.
    public func resize(_ input: UnsafePointer<UInt8>, channels: Int, rowStride: Int, pixelStride: Int, channelStride: Int,
                       left: Int, top: Int, side: Int, into output: UnsafeMutablePointer<UInt8>) {
        let size = outputSize
        if table?.inputSize != side {
            table = ResampleTable(inputSize: side, outputSize: size)
        }
        let table = self.table!
        let needed = channels * side * size
        if needed > scratchCount {
            scratch.deallocate()
            scratch = .allocate(capacity: needed)
            scratchCount = needed
        }
        table.weights.withUnsafeBufferPointer { weights in
            table.starts.withUnsafeBufferPointer { starts in
                table.counts.withUnsafeBufferPointer { counts in
                    let weights = weights.baseAddress!, starts = starts.baseAddress!, counts = counts.baseAddress!
                    // Rows: (C, side, size) floats; all channels of a tap at once, so interleaved
                    // input is read in order.
                    for y in 0..<side {
                        let row = input + (top + y) * rowStride + left * pixelStride
                        for x in 0..<size {
                            let taps = weights + x * table.maxTaps
                            let first = row + starts[x] * pixelStride
                            for c in 0..<channels {
                                var sum: Float = 0
                                for k in 0..<counts[x] {
                                    sum += taps[k] * Float(first[k * pixelStride + c * channelStride])
                                }
                                scratch[(c * side + y) * size + x] = sum
                            }
                        }
                    }
                    // Columns: (C, size, size) bytes, each output row a weighted sum of whole rows.
                    for c in 0..<channels {
                        let plane = scratch + c * side * size
                        for y in 0..<size {
                            let taps = weights + y * table.maxTaps
                            let first = plane + starts[y] * size
                            let out = output + (c * size + y) * size
                            for x in 0..<size {
                                var sum: Float = 0
                                for k in 0..<counts[y] {
                                    sum += taps[k] * first[k * size + x]
                                }
                                out[x] = UInt8(min(255, max(0, sum.rounded())))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// For each output pixel of a 1-D resize: the first input pixel, how many follow, and their
/// normalised triangle-filter weights (`maxTaps` per output pixel).
struct ResampleTable {
    let inputSize: Int
    let starts: [Int]
    let counts: [Int]
    let weights: [Float]
    let maxTaps: Int

    init(inputSize: Int, outputSize: Int) {
        self.inputSize = inputSize
        let scale = Double(inputSize) / Double(outputSize)
        // Shrinking widens the kernel to cover every input pixel under an output pixel.
        let support = max(scale, 1)
        maxTaps = Int((2 * support).rounded(.up)) + 2
        var starts: [Int] = [], counts: [Int] = []
        var weights = [Float](repeating: 0, count: outputSize * maxTaps)
        for o in 0..<outputSize {
            let center = (Double(o) + 0.5) * scale
            let first = max(0, Int((center - support + 0.5).rounded(.down)))
            let last = min(inputSize, Int((center + support + 0.5).rounded(.down)))
            var taps: [Double] = []
            for i in first..<last {
                taps.append(max(0, 1 - abs((Double(i) + 0.5 - center) / support)))
            }
            let total = taps.reduce(0, +)
            for (k, tap) in taps.enumerated() { weights[o * maxTaps + k] = Float(tap / total) }
            starts.append(first)
            counts.append(taps.count)
        }
        self.starts = starts
        self.counts = counts
        self.weights = weights
    }
}

/// A fixed-shape source center-cropped to `crop` (nil: the shorter side) and resized to
/// `size` (nil: the crop). Without either, the source itself.
public func centerCropped(_ source: ImageSource, size: Int?, crop: Int?) throws -> ImageSource {
    guard size != nil || crop != nil else { return source }
    let shorter = min(source.shape.height, source.shape.width)
    let side = crop ?? shorter
    guard side > 0, side <= shorter else {
        throw DataError("--crop \(side) is larger than the \(source.shape.height)x\(source.shape.width) images of this dataset; expected at most \(shorter).")
    }
    return CenterCroppedSource(source: source, side: side, size: size ?? side)
}

/// The images of `source`, center-cropped and resized, one at a time.
struct CenterCroppedSource: ImageSource {
    let source: ImageSource
    let side: Int
    let size: Int

    var shape: ImageShape { ImageShape(channels: source.shape.channels, height: size, width: size) }
    var expectedCount: Int { source.expectedCount }

    func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let resizer = CenterCropResizer(outputSize: size)
        let output = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { output.deallocate() }
        let input = source.shape
        try source.forEachImage(in: items, warn: warn) { image in
            resizer.resize(image, channels: input.channels, rowStride: input.width, pixelStride: 1,
                           channelStride: input.height * input.width,
                           left: (input.width - side) / 2, top: (input.height - side) / 2, side: side, into: output)
            try body(output)
        }
    }
}
