import CBLAS

/// The plain convolution: im2col + `cblas_sgemm`, one image at a time. It is the oracle the
/// fast kernels are tested against and the fallback where they do not apply. It runs on NCHW
/// copies of activations in nChw16c.
public struct Im2colConvolution: ConvolutionKernels {
    public init() {}

    public func forward(_ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        guard g.isNCHW else {
            let (x, y) = (g.inputInNCHW(input), g.outputBuffer())
            defer { x.deallocate(); y.deallocate() }
            forward(g.inNCHW, input: x, weight: weight, bias: bias, output: y)
            return g.outputFromNCHW(y, into: output)
        }
        let (rows, cols) = (g.inChannels * g.kernelHeight * g.kernelWidth, g.outHeight * g.outWidth)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { columns.deallocate() }
        for n in 0..<g.batch {
            im2col(g, image: input + n * g.inChannels * g.height * g.width, columns: columns)
            // (K, rows) x (rows, cols) -> (K, cols)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.outChannels), Int32(cols), Int32(rows),
                        1, weight, Int32(rows), columns, Int32(cols), 0, output + n * g.outChannels * cols, Int32(cols))
            guard let bias else { continue }
            for k in 0..<g.outChannels {
                let plane = output + (n * g.outChannels + k) * cols
                for i in 0..<cols { plane[i] += bias[k] }
            }
        }
    }

    public func inputGradient(_ g: ConvGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              inputGradient: UnsafeMutablePointer<Float>) {
        guard g.isNCHW else {
            let (dy, dx) = (g.outputInNCHW(outputGradient), g.inputBuffer())
            defer { dy.deallocate(); dx.deallocate() }
            self.inputGradient(g.inNCHW, outputGradient: dy, weight: weight, inputGradient: dx)
            return g.inputFromNCHW(dx, into: inputGradient)
        }
        let (rows, cols) = (g.inChannels * g.kernelHeight * g.kernelWidth, g.outHeight * g.outWidth)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { columns.deallocate() }
        let imageSize = g.inChannels * g.height * g.width
        inputGradient.update(repeating: 0, count: g.batch * imageSize)
        for n in 0..<g.batch {
            // (rows, K) x (K, cols) -> (rows, cols)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(cols), Int32(g.outChannels),
                        1, weight, Int32(rows), outputGradient + n * g.outChannels * cols, Int32(cols), 0, columns, Int32(cols))
            col2imAdding(g, columns: columns, image: inputGradient + n * imageSize)
        }
    }

    public func weightGradient(_ g: ConvGeometry, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                               weightGradient: UnsafeMutablePointer<Float>) {
        guard g.isNCHW else {
            let (x, dy) = (g.inputInNCHW(input), g.outputInNCHW(outputGradient))
            defer { x.deallocate(); dy.deallocate() }
            return self.weightGradient(g.inNCHW, input: x, outputGradient: dy, weightGradient: weightGradient)
        }
        let (rows, cols) = (g.inChannels * g.kernelHeight * g.kernelWidth, g.outHeight * g.outWidth)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        defer { columns.deallocate() }
        for n in 0..<g.batch {
            im2col(g, image: input + n * g.inChannels * g.height * g.width, columns: columns)
            // (K, cols) x (cols, rows) -> (K, rows), accumulated over the batch
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(g.outChannels), Int32(rows), Int32(cols),
                        1, outputGradient + n * g.outChannels * cols, Int32(cols), columns, Int32(cols),
                        n == 0 ? 0 : 1, weightGradient, Int32(rows))
        }
    }

    /// columns (C*R*S, P*Q): row (c, r, s) holds x[c, p*stride + r - padH, q*stride + s - padW], zero outside.
    private func im2col(_ g: ConvGeometry, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>) {
        let (P, Q) = (g.outHeight, g.outWidth)
        var row = columns
        for c in 0..<g.inChannels {
            let plane = image + c * g.height * g.width
            for r in 0..<g.kernelHeight {
                for s in 0..<g.kernelWidth {
                    for p in 0..<P {
                        let i = p * g.stride + r - g.paddingHeight
                        let out = row + p * Q
                        guard i >= 0 && i < g.height else { out.update(repeating: 0, count: Q); continue }
                        for q in 0..<Q {
                            let j = q * g.stride + s - g.paddingWidth
                            out[q] = (j >= 0 && j < g.width) ? plane[i * g.width + j] : 0
                        }
                    }
                    row += P * Q
                }
            }
        }
    }

    /// The adjoint of im2col: adds every column entry back into the pixel it came from.
    private func col2imAdding(_ g: ConvGeometry, columns: UnsafePointer<Float>, image: UnsafeMutablePointer<Float>) {
        let (P, Q) = (g.outHeight, g.outWidth)
        var row = columns
        for c in 0..<g.inChannels {
            let plane = image + c * g.height * g.width
            for r in 0..<g.kernelHeight {
                for s in 0..<g.kernelWidth {
                    for p in 0..<P {
                        let i = p * g.stride + r - g.paddingHeight
                        guard i >= 0 && i < g.height else { continue }
                        for q in 0..<Q {
                            let j = q * g.stride + s - g.paddingWidth
                            if j >= 0 && j < g.width { plane[i * g.width + j] += row[p * Q + q] }
                        }
                    }
                    row += P * Q
                }
            }
        }
    }
}

/// NCHW copies of a geometry's activations, for kernels that know no other layout.
private extension ConvGeometry {
    var isNCHW: Bool { inputLayout == .nchw && outputLayout == .nchw }

    var inNCHW: ConvGeometry {
        var g = self
        (g.inputLayout, g.outputLayout) = (.nchw, .nchw)
        return g
    }

    func inputBuffer() -> UnsafeMutablePointer<Float> { .allocate(capacity: inputCount) }
    func outputBuffer() -> UnsafeMutablePointer<Float> { .allocate(capacity: outputCount) }

    func inputInNCHW(_ x: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let copy = inputBuffer()
        relayout(x, inputLayout, to: copy, .nchw, batch: batch, channels: inChannels, plane: height * width)
        return copy
    }

    func outputInNCHW(_ y: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let copy = outputBuffer()
        relayout(y, outputLayout, to: copy, .nchw, batch: batch, channels: outChannels, plane: outHeight * outWidth)
        return copy
    }

    func inputFromNCHW(_ x: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        relayout(x, .nchw, to: destination, inputLayout, batch: batch, channels: inChannels, plane: height * width)
    }

    func outputFromNCHW(_ y: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>) {
        relayout(y, .nchw, to: destination, outputLayout, batch: batch, channels: outChannels, plane: outHeight * outWidth)
    }
}
