// The optional IAF step of MODEL.md section 3 (inverse autoregressive flow, Kingma et al. 2016,
// as in openai/iaf): after a stage's posterior sample z, z' = (z - m) * exp(-s), where (m, s)
// come from masked 3x3 convolutions of z plus a context from the top-down state d. The masks
// order the elements (positions in reverse raster order, then channels), and m, s of an
// element see only elements before it, so dz'/dz is triangular with diagonal exp(-s):
// log q(z') = log q(z) + sum(s).

final class IAFStep {
    let input: Conv2D      // z -> hidden, masked, the diagonal allowed
    let context: Conv2D    // d -> hidden
    let mean: Conv2D       // hidden -> z, masked, strictly earlier only
    let logScale: Conv2D   // hidden -> z, masked, strictly earlier only

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, z: Int, width: Int) {
        let hidden = 2 * z
        input = Conv2D(p, "\(name).input", initializer, in: z, out: hidden, kernel: 3,
                       mask: autoregressiveMask(in: z, out: hidden, kernel: 3, strict: false))
        context = Conv2D(p, "\(name).context", initializer, in: width, out: hidden, kernel: 3)
        let strict = autoregressiveMask(in: hidden, out: z, kernel: 3, strict: true)
        mean = Conv2D(p, "\(name).mean", initializer, in: hidden, out: z, kernel: 3, mask: strict)
        logScale = Conv2D(p, "\(name).logscale", initializer, in: hidden, out: z, kernel: 3, mask: strict)
    }

    /// (z', s): the transformed sample and the log-scale map whose sum log q gains.
    func callAsFunction(_ z: Tensor, context d: Tensor) -> (Tensor, Tensor) {
        let h = elu(input(z) + context(d))
        // Scaled by 0.1 (as openai/iaf) so the step starts close to the identity.
        let (m, s) = (mean(h) * 0.1, logScale(h) * 0.1)
        return ((z - m) * exp(-s), s)
    }
}

/// The (out, in, k, k) 0/1 mask of an autoregressive convolution. Spatially, a weight reads
/// the centre, the pixels after it on its row and the rows below; at the centre, output
/// channel j reads input channel i when i's group comes before j's (or is j's, unless
/// `strict`), groups being the ratio of the two channel counts.
func autoregressiveMask(in inputs: Int, out outputs: Int, kernel k: Int, strict: Bool) -> Tensor {
    precondition(inputs % outputs == 0 || outputs % inputs == 0, "An autoregressive mask needs channel counts that divide: \(inputs) and \(outputs).")
    let centre = k / 2
    var values = [Float](repeating: 0, count: outputs * inputs * k * k)
    for j in 0..<outputs { for i in 0..<inputs { for r in 0..<k { for s in 0..<k {
        let allowed: Bool
        if r != centre || s != centre {
            allowed = r > centre || (r == centre && s > centre)
        } else {
            // Compare the two channels on the coarser of the two groupings.
            let (a, b) = outputs >= inputs ? (i, j / (outputs / inputs)) : (i / (inputs / outputs), j)
            allowed = strict ? a < b : a <= b
        }
        values[((j * inputs + i) * k + r) * k + s] = allowed ? 1 : 0
    } } } }
    return Tensor(shape: [outputs, inputs, k, k], values)
}
