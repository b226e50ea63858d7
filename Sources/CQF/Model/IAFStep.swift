// The optional IAF step of MODEL.md section 3, as openai/iaf's IAFLayer (inverse autoregressive
// flow, Kingma et al. 2016): after a stage's posterior sample z, z' = (z - m) * exp(-s), where
// (m, s) come from an autoregressive network of z and a context c = c_up + c_down that the
// bottom-up and top-down passes emit beside the posterior: two masked 3x3 convs of the stage's
// width (the context added after the first, ELU after each), then two masked 3x3 convs to m and
// s, each scaled by 0.1 so that the step starts near the identity. All four are weight-normalised,
// as openai/iaf's. The masks order the elements (positions in reverse raster order, then
// channels), and m, s of an element see only elements before it, so dz'/dz is triangular with
// diagonal exp(-s): log q(z') = log q(z) + sum(s).

final class IAFStep {
    let first: Conv2D      // z -> W, masked, the diagonal allowed; the context is added to its output
    let second: Conv2D     // W -> W, masked, the diagonal allowed
    let mean: Conv2D       // W -> z, masked, strictly earlier only
    let logScale: Conv2D   // W -> z, masked, strictly earlier only

    init(_ p: ParameterSet, _ name: String, _ initializer: ParameterInitializer, z: Int, width: Int) {
        first = Conv2D(p, "\(name).first", initializer, in: z, out: width, kernel: 3, weightNorm: true,
                       mask: autoregressiveMask(in: z, out: width, kernel: 3, strict: false))
        second = Conv2D(p, "\(name).second", initializer, in: width, out: width, kernel: 3, weightNorm: true,
                        mask: autoregressiveMask(in: width, out: width, kernel: 3, strict: false))
        let strict = autoregressiveMask(in: width, out: z, kernel: 3, strict: true)
        mean = Conv2D(p, "\(name).mean", initializer, in: width, out: z, kernel: 3, weightNorm: true, mask: strict)
        logScale = Conv2D(p, "\(name).logscale", initializer, in: width, out: z, kernel: 3, weightNorm: true, mask: strict)
    }

    /// (z', s): the transformed sample and the log-scale map whose sum log q gains; the context
    /// has the stage's width.
    func callAsFunction(_ z: Tensor, context: Tensor) -> (Tensor, Tensor) {
        let h = elu(second(elu(first(z) + context)))
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
