// The data space of MODEL.md section 1: the logit transform with its log-det, its inverse for
// generated images, and bits per dimension.
import Foundation

/// y = logit(alpha + (1 - 2 alpha) x) for dequantised x in [0, 1], and per image
/// log|det dy/dx| = sum_i [log(1 - 2 alpha) - log s_i - log(1 - s_i)]. Data, so not recorded.
public func logitTransform(_ x: Tensor, alpha: Float) -> (y: Tensor, logDet: Tensor) {
    let (n, d) = (x.shape[0], x.count / x.shape[0])
    let y = Tensor(uninitialized: x.shape)
    let logDet = Tensor(uninitialized: [n])
    let logScale = Foundation.log(1 - 2 * Double(alpha))
    for i in 0..<n {
        var sum = 0.0
        for j in i * d..<(i + 1) * d {
            let s = Double(alpha) + (1 - 2 * Double(alpha)) * Double(x.data[j])
            let (logS, log1mS) = (Foundation.log(s), Foundation.log1p(-s))
            y.data[j] = Float(logS - log1mS)
            sum += logScale - logS - log1mS
        }
        logDet.data[i] = Float(sum)
    }
    return (y, logDet)
}

/// x = (sigmoid(y) - alpha) / (1 - 2 alpha): generated images back in [0, 1] (differentiable).
public func imagesFromLogits(_ y: Tensor, alpha: Float) -> Tensor {
    (sigmoid(y) - alpha) / (1 - 2 * alpha)
}

/// bpd = (NLL + D ln 256) / (D ln 2), NLL in nats for x in [0, 1]^D: ln 256 added once.
public func bitsPerDimension(nll: Double, dimensions: Int) -> Double {
    (nll + Double(dimensions) * Foundation.log(256)) / (Double(dimensions) * Foundation.log(2))
}

/// Images in [0, 1] as 8-bit values: floor(256 x), clamped (samples and grids).
public func quantised(_ x: Tensor) -> [UInt8] {
    (0..<x.count).map { UInt8(Swift.max(0, Swift.min(255, Foundation.floor(x.data[$0] * 256)))) }
}
