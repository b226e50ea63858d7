// Activations kept in oneDNN's nChw16c layout (`ActivationLayout`) give what NCHW gives: the
// convolutions' three passes against the im2col oracle on NCHW copies, batch normalisation's
// blocked loops against the NCHW loops, the moves between layouts, channel slices, upsampling
// and pooling on the blocks against the test's own index, Real NVP with 32 filters (its
// couplings' hidden activations blocked) against the same flow in NCHW (forward, log-det,
// inverse and gradients), and the VAE in nChw16c against the VAE in NCHW.
// The layout's index is written out here, apart from the engine's.
import XCTest
@testable import CQF

final class ActivationLayoutTests: XCTestCase {
    /// An (N, C, P) activation's values from one layout to the other.
    static func relaid(_ values: [Float], toBlocked: Bool, batch: Int, channels: Int, plane: Int) -> [Float] {
        var out = values
        for n in 0..<batch {
            for c in 0..<channels {
                for i in 0..<plane {
                    let nchw = (n * channels + c) * plane + i
                    let blocked = ((n * (channels / 16) + c / 16) * plane + i) * 16 + c % 16
                    if toBlocked { out[blocked] = values[nchw] } else { out[nchw] = values[blocked] }
                }
            }
        }
        return out
    }

    func testConvolutionsReadAndWriteNChw16c() {
        let shapes = [
            ConvGeometry(batch: 3, inChannels: 16, outChannels: 32, height: 6, width: 5, kernelHeight: 3, kernelWidth: 3, padding: 1),
            // A coupling's last convolution (to 2C) and its first (from C).
            ConvGeometry(batch: 2, inChannels: 32, outChannels: 6, height: 5, width: 7, kernelHeight: 3, kernelWidth: 3, padding: 1),
            ConvGeometry(batch: 2, inChannels: 3, outChannels: 16, height: 7, width: 5, kernelHeight: 3, kernelWidth: 3, padding: 1),
            ConvGeometry(batch: 2, inChannels: 16, outChannels: 16, height: 9, width: 9, kernelHeight: 4, kernelWidth: 4, stride: 2, padding: 1),
            // 1x1 over 8x8 runs on plain NCHW: the caller's blocked buffers are reordered to it.
            ConvGeometry(batch: 1, inChannels: 32, outChannels: 48, height: 8, width: 8, kernelHeight: 1, kernelWidth: 1),
        ]
        let kernels: [(String, ConvolutionKernels)] = [("oneDNN's default choice", DNNLConvolution()),
                                                       ("oneDNN blocked direct", DNNLConvolution { _, _ in .init(.blocked, .direct) }),
                                                       ("im2col", Im2colConvolution())]
        let oracle = Im2colConvolution()
        for (index, plain) in shapes.enumerated() {
            var random = ConvolutionTestRandom(seed: UInt64(index + 40))
            let (x, w, dy) = (random.floats(plain.inputCount), random.floats(plain.weightCount), random.floats(plain.outputCount))
            var (y, dx, dw) = ([Float](repeating: 0, count: plain.outputCount), [Float](repeating: 0, count: plain.inputCount),
                               [Float](repeating: 0, count: plain.weightCount))
            oracle.forward(plain, input: x, weight: w, output: &y)
            oracle.inputGradient(plain, outputGradient: dy, weight: w, inputGradient: &dx)
            oracle.weightGradient(plain, input: x, outputGradient: dy, weightGradient: &dw)
            let inputLayouts: [ActivationLayout] = plain.inChannels % 16 == 0 ? [.nchw, .nChw16c] : [.nchw]
            let outputLayouts: [ActivationLayout] = plain.outChannels % 16 == 0 ? [.nchw, .nChw16c] : [.nchw]
            for inputLayout in inputLayouts {
                for outputLayout in outputLayouts where inputLayout == .nChw16c || outputLayout == .nChw16c {
                    var g = plain
                    (g.inputLayout, g.outputLayout) = (inputLayout, outputLayout)
                    let input = { (values: [Float], toBlocked: Bool) in
                        inputLayout == .nchw ? values : Self.relaid(values, toBlocked: toBlocked, batch: g.batch, channels: g.inChannels, plane: g.height * g.width)
                    }
                    let output = { (values: [Float], toBlocked: Bool) in
                        outputLayout == .nchw ? values : Self.relaid(values, toBlocked: toBlocked, batch: g.batch, channels: g.outChannels, plane: g.outHeight * g.outWidth)
                    }
                    for (name, kernel) in kernels {
                        var (y2, dx2, dw2) = ([Float](repeating: .nan, count: g.outputCount), [Float](repeating: .nan, count: g.inputCount),
                                              [Float](repeating: .nan, count: g.weightCount))
                        kernel.forward(g, input: input(x, true), weight: w, output: &y2)
                        kernel.inputGradient(g, outputGradient: output(dy, true), weight: w, inputGradient: &dx2)
                        kernel.weightGradient(g, input: input(x, true), outputGradient: output(dy, true), weightGradient: &dw2)
                        let what = "\(g) by \(name)"
                        assertConvolutionClose(output(y2, false), y, tolerance: DNNLConvolutionTests.tolerance, "forward \(what)")
                        assertConvolutionClose(input(dx2, false), dx, tolerance: DNNLConvolutionTests.tolerance, "input gradient \(what)")
                        assertConvolutionClose(dw2, dw, tolerance: DNNLConvolutionTests.tolerance, "weight gradient \(what)")
                    }
                }
            }
        }
    }

    /// conv2d + bias into nChw16c and back, through autodiff: the values and every gradient
    /// (the bias's summed over nChw16c's pixels) are NCHW's.
    func testConvolutionWithBiasBetweenLayouts() {
        var random = TestRandom(seed: 41)
        let x = random.tensor([2, 3, 6, 5]).requiringGrad()
        let (w1, b1) = (random.tensor([32, 3, 3, 3]).requiringGrad(), random.tensor([32]).requiringGrad())
        let (w2, b2) = (random.tensor([6, 32, 3, 3]).requiringGrad(), random.tensor([6]).requiringGrad())
        let r = random.tensor([2, 6, 6, 5])
        func run(_ hidden: ActivationLayout) -> [[Float]] {
            let h = relu(conv2d(x, w1, bias: b1, padding: 1, outputLayout: hidden))
            XCTAssertEqual(h.shape, hidden == .nchw ? [2, 32, 6, 5] : [2, 2, 6, 80])
            let y = conv2d(h, w2, bias: b2, padding: 1)
            return [y.array] + grad(of: (y * r).sum(), wrt: [x, w1, b1, w2, b2]).map(\.array)
        }
        for (name, (blocked, nchw)) in zip(["y", "dx", "dw1", "db1", "dw2", "db2"], zip(run(.nChw16c), run(.nchw))) {
            XCTAssertLessThan(largestDifference(blocked, nchw).value / max(largestMagnitude(nchw), 1), 1e-5, name)
        }
    }

    /// Batch normalisation with batch statistics on an (N, C/16, H*W, 16) view against NCHW, with
    /// ReLU after it and without.
    func testBlockedBatchNormMatchesNCHW() {
        var random = TestRandom(seed: 42)
        let (n, c, plane) = (3, 32, 37)
        let x = random.tensor([n, c, plane, 1], in: -2...3)
        let (gamma, beta, g) = (random.tensor([c]), random.tensor([c]), random.tensor([n, c, plane, 1]))
        let world: CrossRankSum = { _ in }
        func toBlocked(_ t: Tensor) -> Tensor {
            Tensor(shape: [n, c / 16, plane, 16], Self.relaid(t.array, toBlocked: true, batch: n, channels: c, plane: plane))
        }
        for relu in [false, true] {
            let (xp, gp, bp) = (x.detached.requiringGrad(), gamma.reshaped(to: [1, c, 1, 1]).detached.requiringGrad(),
                                beta.reshaped(to: [1, c, 1, 1]).detached.requiringGrad())
            let plain = batchNormalizedWithBatchStatistics(xp, gamma: gp, beta: bp, epsilon: 1e-4, relu: relu, acrossRanks: world)
            let plainGradients = grad(of: (plain.output * g).sum(), wrt: [xp, gp, bp])
            let (xb, gb, bb) = (toBlocked(x).requiringGrad(), gamma.reshaped(to: [1, c / 16, 1, 16]).detached.requiringGrad(),
                                beta.reshaped(to: [1, c / 16, 1, 16]).detached.requiringGrad())
            let blocked = batchNormalizedWithBatchStatistics(xb, gamma: gb, beta: bb, epsilon: 1e-4, relu: relu, acrossRanks: world)
            let blockedGradients = grad(of: (blocked.output * toBlocked(g)).sum(), wrt: [xb, gb, bb])
            let pairs: [(String, [Float], [Float])] = [
                ("output", Self.relaid(blocked.output.array, toBlocked: false, batch: n, channels: c, plane: plane), plain.output.array),
                ("mean", blocked.mean.array, plain.mean.array), ("variance", blocked.variance.array, plain.variance.array),
                ("dx", Self.relaid(blockedGradients[0].array, toBlocked: false, batch: n, channels: c, plane: plane), plainGradients[0].array),
                ("dgamma", blockedGradients[1].array, plainGradients[1].array), ("dbeta", blockedGradients[2].array, plainGradients[2].array),
            ]
            for (name, actual, expected) in pairs {
                XCTAssertLessThan(largestDifference(actual, expected).value / max(largestMagnitude(expected), 1), 2e-6, "\(name), relu \(relu)")
            }
            assertSameBitsOnTwoThreads(blockedBatchNormForward, blockedBatchNormBackward, xb, toBlocked(g), gamma: gb, beta: bb, relu: relu)
        }
    }

    /// Batch normalisation with given statistics on an (N, C/16, H*W, 16) view against the NCHW
    /// composite, with ReLU after it and without: the output and dx to the bit.
    func testBlockedBatchNormWithGivenStatisticsMatchesNCHW() {
        var random = TestRandom(seed: 43)
        let (n, c, plane) = (3, 32, 37)
        let x = random.tensor([n, c, plane, 1], in: -2...3)
        let (gamma, beta, g) = (random.tensor([c]), random.tensor([c]), random.tensor([n, c, plane, 1]))
        let (mean, variance) = (random.tensor([c]), random.tensor([c], in: 0.5...2))
        func toBlocked(_ t: Tensor) -> Tensor {
            Tensor(shape: [n, c / 16, plane, 16], Self.relaid(t.array, toBlocked: true, batch: n, channels: c, plane: plane))
        }
        func fromBlocked(_ t: Tensor) -> [Float] { Self.relaid(t.array, toBlocked: false, batch: n, channels: c, plane: plane) }
        for relu in [false, true] {
            let plainChannel = { (t: Tensor) in t.reshaped(to: [1, c, 1, 1]).detached.requiringGrad() }
            let (xp, gp, bp) = (x.detached.requiringGrad(), plainChannel(gamma), plainChannel(beta))
            let normalized = batchNormalized(xp, mean: mean.reshaped(to: [1, c, 1, 1]), variance: variance.reshaped(to: [1, c, 1, 1]),
                                             gamma: gp, beta: bp, epsilon: 1e-4)
            let plain = relu ? CQF.relu(normalized) : normalized
            let plainGradients = grad(of: (plain * g).sum(), wrt: [xp, gp, bp])
            let blockChannel = { (t: Tensor) in t.reshaped(to: [1, c / 16, 1, 16]).detached }
            let (xb, gb, bb) = (toBlocked(x).requiringGrad(), blockChannel(gamma).requiringGrad(), blockChannel(beta).requiringGrad())
            let blocked = batchNormalized(xb, mean: blockChannel(mean), variance: blockChannel(variance), gamma: gb, beta: bb,
                                          epsilon: 1e-4, relu: relu)
            let blockedGradients = grad(of: (blocked * toBlocked(g)).sum(), wrt: [xb, gb, bb])
            XCTAssertEqual(fromBlocked(blocked), plain.array, "output, relu \(relu)")
            XCTAssertEqual(fromBlocked(blockedGradients[0]), plainGradients[0].array, "dx, relu \(relu)")
            for (name, i) in [("dgamma", 1), ("dbeta", 2)] {
                let (actual, expected) = (blockedGradients[i].array, plainGradients[i].array)
                XCTAssertLessThan(largestDifference(actual, expected).value / max(largestMagnitude(expected), 1), 2e-6, "\(name), relu \(relu)")
            }
        }
    }

    /// inLayout both ways, a slice of whole blocks, upsampling and sum pooling on 16-value pixels:
    /// the values NCHW's ops give, moved to the blocks by the test's index, on one and two threads.
    func testLayoutMovesSlicesAndResamplingOnBlocks() {
        let (batch, channels, size) = (3, 48, 6)
        var random = TestRandom(seed: 45)
        let x = random.tensor([batch, channels, size, size])
        func blocked(_ t: Tensor) -> [Float] {
            Self.relaid(t.array, toBlocked: true, batch: batch, channels: t.shape[1], plane: t.shape[2] * t.shape[3])
        }
        for threads in [1, 2] {
            EngineThreads.count = threads
            defer { EngineThreads.count = 1 }
            let b = x.inLayout(.nChw16c, channels: channels)
            XCTAssertEqual(b.shape, [batch, channels / 16, size, size * 16])
            XCTAssertEqual(b.array, blocked(x), "NCHW to nChw16c")
            XCTAssertEqual(b.inLayout(.nchw, channels: channels).array, x.array, "and back")
            XCTAssertTrue(x.inLayout(.nchw, channels: channels) === x, "a tensor already in the layout is itself")
            XCTAssertEqual(b.channels(16..<48, in: .nChw16c).array, blocked(x.channels(16..<48)), "channels 16..<48")
            let up = upsample2x(b, layout: .nChw16c)
            XCTAssertEqual(up.array, blocked(upsample2x(x)), "upsampling")
            XCTAssertEqual(sumPool2x2(up, layout: .nChw16c).array, blocked(sumPool2x2(upsample2x(x))), "sum pooling")
        }
    }

    /// The VAE with z and every width a multiple of 16 keeps its activations and latents in
    /// nChw16c (two blocks at the bottom stage, so a wrong block index shows): the coverage
    /// terms, the KL maps, the generated images and the gradients of L_C in the VAE's parameters
    /// are the NCHW VAE's.
    func testVAEInBlocksMatchesNCHW() throws {
        var random = TestRandom(seed: 46)
        let x = random.tensor([2, 3, 32, 32], in: 0.05...0.95)
        func run(blocked: Bool) throws -> [[Float]] {
            ActivationLayout.blocksBetweenConvolutions = blocked
            defer { ActivationLayout.blocksBetweenConvolutions = true }
            let config = try Config.load(path: nil, overrides: [("channels", "3"), ("widths", "32,16,16,16"), ("z", "16"), ("first", "16"),
                                                                ("objective", "cqf"), ("free_bits", "0.1")])
            let model = CQFModel(config: config)
            XCTAssertEqual(VAEShape(config).layout, blocked ? .nChw16c : .nchw)
            // The model's own initial weights: uniform ones of FlowTests' size overflow f^-1.
            let vae = [model.encoder!.parameters, model.decoder.parameters]
            let noise = StepNoise(seed: 5, step: 0, firstImage: 0)
            let terms = model.coverageTerms(x, noise: noise, flowPass: .training { _ in })
            let coverage = model.coverageLoss(terms, globalBatch: 2, ranks: 1) { _ in }
            let parameters = vae.flatMap(\.parameters).map(\.tensor!)
            let generated = Recording.paused { model.generate(batch: 2, noise: noise) }
            return [terms.nll.array, generated.array] + terms.klMaps.map(\.array) + grad(of: coverage, wrt: parameters).map(\.array)
        }
        let (blocked, nchw) = (try run(blocked: true), try run(blocked: false))
        XCTAssertEqual(blocked.count, nchw.count)
        XCTAssertTrue(nchw.allSatisfy { $0.allSatisfy(\.isFinite) }, "every value finite")
        XCTAssertGreaterThan(nchw[1].max()! - nchw[1].min()!, 0.02, "the images are not flat")
        for (index, (a, b)) in zip(blocked, nchw).enumerated() {
            XCTAssertLessThan(largestDifference(a, b).value / max(largestMagnitude(b), 1), 1e-4, "output \(index) (nll, images, KL maps, gradients)")
        }
    }

    /// Real NVP with 32 filters keeps its couplings' hidden activations in nChw16c, two blocks of
    /// 16 channels (one block would hide a wrong block index): v, the log-det, f^-1 and the
    /// gradients are the NCHW flow's.
    func testRealNVPWithBlockedCouplingsMatchesNCHW() {
        var config = NVPConfig()
        (config.scales, config.blocks, config.filters) = (2, 1, 32)
        var random = TestRandom(seed: 44)
        let y = random.tensor([2, 3, 8, 8], in: -3...3)
        let r = random.tensor([2, 3, 8, 8])
        /// A fresh flow each time: training passes move the running averages.
        func run(blocked: Bool) -> [[Float]] {
            ActivationLayout.blocksBetweenConvolutions = blocked
            defer { ActivationLayout.blocksBetweenConvolutions = true }
            let flow = RealNVP(channels: 3, config: config, initializer: ParameterInitializer(seed: 1))
            FlowTests.randomise(flow.parameters, seed: 43)
            let back = flow.inverse(flow.forward(y, .evaluation).v, .evaluation)
            XCTAssertLessThanOrEqual(largestDifference(back.array, y.array).value, 1e-5, "|f^-1(f(y)) - y|, blocked \(blocked)")
            let input = y.detached.requiringGrad()
            let (v, logDet) = flow.forward(input, .training { _ in })
            let gradients = grad(of: (v * r).sum() + logDet.sum(), wrt: [input] + flow.parameters.parameters.map(\.tensor))
            return [v.array, logDet.array] + gradients.map(\.array)
        }
        let (blocked, nchw) = (run(blocked: true), run(blocked: false))

        XCTAssertGreaterThan(largestDifference(nchw[0], y.array).value, 0.1, "f is nearly the identity")
        // The biases ahead of a batch norm have a zero gradient in exact arithmetic: what the flow
        // computes there is rounding noise, up to 1.1e-4 between NCHW's own oneDNN and im2col
        // kernels. A wrong index shows at order 1.
        for (index, (a, b)) in zip(blocked, nchw).enumerated() {
            XCTAssertLessThan(largestDifference(a, b).value / max(largestMagnitude(b), 1), 1e-3, "output \(index) (v, log-det, gradients)")
        }
    }
}
