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

/// Copies an activation of (N, C, H*W) values from one layout to another.
func relayout(_ source: UnsafePointer<Float>, _ from: ActivationLayout, to destination: UnsafeMutablePointer<Float>,
              _ to: ActivationLayout, batch: Int, channels: Int, plane: Int) {
    func index(_ layout: ActivationLayout, _ n: Int, _ c: Int, _ i: Int) -> Int {
        switch layout {
        case .nchw: return (n * channels + c) * plane + i
        case .nChw16c:
            let block = ActivationLayout.block
            return ((n * (channels / block) + c / block) * plane + i) * block + c % block
        }
    }
    for n in 0..<batch {
        for c in 0..<channels {
            for i in 0..<plane { destination[index(to, n, c, i)] = source[index(from, n, c, i)] }
        }
    }
}
