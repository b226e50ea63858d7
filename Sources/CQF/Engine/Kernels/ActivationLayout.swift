/// How a 4-D activation holds its channels. `nchw` is the engine's own layout, (N, C, H, W).
/// `nChw16c` is oneDNN's blocked layout, the one its AVX-512 convolution kernels read and write:
/// channels in blocks of 16, each pixel's 16 values of a block side by side, as a tensor of
/// shape (N, C/16, H, W*16). Between two convolutions (with elementwise ops and batch norm in
/// between) an activation kept in it skips the reorders to and from NCHW around each kernel.
/// The shape tells the layouts apart: an nChw16c tensor's second axis is C/16, not C.
public enum ActivationLayout: String, Hashable, Sendable {
    case nchw, nChw16c

    /// Channels per block of `nChw16c`.
    public static let block = 16

    /// Whether activations between two convolutions stay in nChw16c where their channels allow
    /// (tests turn it off to compare with NCHW).
    nonisolated(unsafe) public static var blocksBetweenConvolutions = true

    /// The layout for an activation of `channels` channels that goes from one convolution to the
    /// next through elementwise ops and batch norm only: nChw16c where the channels fill its blocks.
    public static func betweenConvolutions(channels: Int) -> ActivationLayout {
        blocksBetweenConvolutions && channels % block == 0 ? .nChw16c : .nchw
    }

    /// The tensor shape of an (N, C, H, W) activation in this layout.
    public func shape(batch: Int, channels: Int, height: Int, width: Int) -> [Int] {
        switch self {
        case .nchw: return [batch, channels, height, width]
        case .nChw16c:
            precondition(channels % Self.block == 0, "The nChw16c layout needs a multiple of 16 channels, got \(channels).")
            return [batch, channels / Self.block, height, width * Self.block]
        }
    }

    /// The layout of a tensor of `shape` that holds `channels` channels, and its (N, C, H, W).
    public static func of(_ shape: [Int], channels: Int) -> (layout: ActivationLayout, batch: Int, height: Int, width: Int) {
        precondition(shape.count == 4, "An activation needs four axes, got shape \(shape).")
        if shape[1] == channels { return (.nchw, shape[0], shape[2], shape[3]) }
        precondition(shape[1] * block == channels && shape[3] % block == 0,
                     "A tensor of shape \(shape) holds neither \(channels) channels in NCHW nor in nChw16c (N, C/16, H, W*16).")
        return (.nChw16c, shape[0], shape[2], shape[3] / block)
    }
}

/// Copies an activation of (N, C, H*W) values from one layout to another: per image and block
/// of 16 channels, a transpose between 16 planes and one plane of 16-value pixels, 16 pixels at
/// a time. Pixel by pixel, each pixel read (or wrote) one value in each of 16 planes, a plane
/// apart: at 32x32 that is 4 KB, the stride at which every access falls in the same cache set
/// (`bench --ops` on config b: 4.1 ms for the 8 MB KL map back to NCHW, 0.9 ms in tiles). A tile
/// of 16 pixels takes each plane's 16 values (one cache line) at once, the pixels' within 1 KB.
func relayout(_ source: UnsafePointer<Float>, _ from: ActivationLayout, to destination: UnsafeMutablePointer<Float>,
              _ to: ActivationLayout, batch: Int, channels: Int, plane: Int) {
    guard from != to else { destination.update(from: source, count: batch * channels * plane); return }
    let block = ActivationLayout.block
    // Image n's channel block b starts at the same offset, (n * C / 16 + b) * 16 * plane, in both.
    for start in stride(from: 0, to: batch * channels * plane, by: block * plane) {
        let (src, dst) = (source + start, destination + start)
        for tile in stride(from: 0, to: plane, by: block) {
            let pixels = tile..<min(tile + block, plane)
            if from == .nchw {
                for k in 0..<block { for i in pixels { dst[i * block + k] = src[k * plane + i] } }
            } else {
                for k in 0..<block { for i in pixels { dst[k * plane + i] = src[i * block + k] } }
            }
        }
    }
}

extension Tensor {
    /// This (N, C, H, W) activation of `channels` channels in `layout`: itself when it is there
    /// already, else a copy whose gradient goes back to this tensor's layout.
    public func inLayout(_ layout: ActivationLayout, channels: Int) -> Tensor {
        let (from, batch, height, width) = ActivationLayout.of(shape, channels: channels)
        if from == layout { return self }
        let out = Tensor(uninitialized: layout.shape(batch: batch, channels: channels, height: height, width: width))
        let image = channels * height * width
        forEachBlock(batch, size: image) { n in
            relayout(data + n * image, from, to: out.data + n * image, layout, batch: 1, channels: channels, plane: height * width)
        }
        return record(out, "inLayout", [self], uses: [[]]) { c in [c.gradient.inLayout(from, channels: channels)] }
    }

    /// Channels `range` of an activation in `layout`; in nChw16c the range must hold whole blocks.
    public func channels(_ range: Range<Int>, in layout: ActivationLayout) -> Tensor {
        switch layout {
        case .nchw: return channels(range)
        case .nChw16c:
            let block = ActivationLayout.block
            precondition(range.lowerBound % block == 0 && range.upperBound % block == 0,
                         "Channels \(range) of an nChw16c activation do not fall on its blocks of \(block).")
            return channels(range.lowerBound / block..<range.upperBound / block)
        }
    }
}
