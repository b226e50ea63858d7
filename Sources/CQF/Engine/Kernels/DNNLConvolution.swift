import CDNNL
import Foundation

/// The fast convolution kernels: Debian's oneDNN 2.x through its C API. On AVX-512 machines
/// oneDNN's own JIT kernels reach near the FMA peak, where im2col + OpenBLAS (held to AVX2 by
/// `OPENBLAS_CORETYPE=Haswell`) stops near half of it. Primitives, the reorders between the
/// caller's buffers (OIHW weights, activations in the geometry's layouts) and oneDNN's blocked
/// layouts are made once per (geometry, pass) and cached; the blocked copies of the operands live
/// in three staging buffers that all cached passes share, so the cache holds primitives rather
/// than a copy of every tensor of the model. Correctness is tested against `Im2colConvolution`;
/// which layout and algorithm (direct or Winograd) each shape gets is a measured choice (see
/// `Variant.preferred` and docs/performance.md).
public final class DNNLConvolution: ConvolutionKernels {
    /// The three passes of a convolution, each a primitive of its own.
    public enum Pass: String, CaseIterable, Sendable {
        case forward, inputGradient, weightGradient
    }

    /// Where oneDNN's primitive reads and writes: `blocked` lets it pick its layout
    /// (`format_tag_any`, e.g. nChw16c for `jit:avx512_core`) and reorders from and to the
    /// caller's NCHW/OIHW around it; `plain` runs it on the caller's buffers as they are.
    public enum Layout: String, Sendable { case blocked, plain }

    public enum Algorithm: String, Sendable { case direct, winograd, auto }

    /// What the pass multiplies in: `f32`, or `bf16`, where its two inputs are rounded to
    /// bfloat16 by the reorders in (8 bits of mantissa) and the products are summed and written in
    /// float32 (oneDNN's `avx512_core_bf16` kernels, on CPUs with AVX512_BF16).
    public enum Precision: String, Sendable { case f32, bf16 }

    public struct Variant: Hashable, CustomStringConvertible, Sendable {
        public var layout: Layout
        public var algorithm: Algorithm
        public var precision: Precision
        public init(_ layout: Layout, _ algorithm: Algorithm, _ precision: Precision = .f32) {
            self.layout = layout
            self.algorithm = algorithm
            self.precision = precision
        }
        public var description: String {
            "\(layout.rawValue)/\(algorithm.rawValue)" + (precision == .f32 ? "" : "/\(precision.rawValue)")
        }

        /// The default choice, from the measurements in docs/performance.md (batch 64, one thread):
        /// - 3x3 stride 1 with at least 16 input and 16 output channels: Winograd F(4x4, 3x3)
        ///   (`jit_wino_4x3`), 1.1-3x the direct kernel's speed in all three passes on the model's
        ///   shapes (one exception, C16->K32 forward at 0.8x). With the image's 3 channels in or
        ///   out its transforms cost about as much as they save, or more.
        /// - 1x1 forward and input gradient over at least 8x8 outputs: plain NCHW (`gemm:jit`,
        ///   oneDNN's own AVX-512 sgemm); a 1x1 convolution does so little per element that the
        ///   reorders to and from the blocked layout cost more than the kernel. (Its weight
        ///   gradient is faster blocked, taken over the model's 1x1 shapes.)
        /// - everything else (3x3 stride 2, 1x1 on 4x4, thin 3x3): the blocked direct kernel.
        /// Winograd's float32 rounding error is a few times the direct kernel's (up to 2e-6 of the
        /// largest output against 6e-7 in the tests); callers that want the direct kernels
        /// everywhere (e.g. tight gradient checks) pass their own `choose`.
        public static func preferred(_ g: ConvGeometry, _ pass: Pass) -> Variant {
            if g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && min(g.inChannels, g.outChannels) >= 16 {
                return Variant(.blocked, .winograd)
            }
            if g.kernelHeight == 1 && g.kernelWidth == 1 && pass != .weightGradient && g.outHeight * g.outWidth >= 64 {
                return Variant(.plain, .direct)
            }
            return Variant(.blocked, .direct)
        }

        /// The choice for a precision: with `bf16`, the bf16 kernels where they measured faster
        /// than the float32 choice (docs/performance.md, batch 64, one thread, Zen 4 and Zen 5)
        /// and the float32 choice elsewhere. oneDNN 2.6 has no bf16 Winograd; on a core that runs
        /// 512-bit FMAs in two halves its bf16 kernels gain over the float32 direct ones about
        /// what Winograd's 2.25x fewer multiplies gain, at full width they gain more:
        /// - Winograd's shapes keep float32 Winograd, but for the forward and input gradient
        ///   passes over 4x4 outputs or fewer, whose tiles are mostly padding (bf16 1.3-2.3x);
        ///   at full width (`VectorUnits.fullWidth512`) bf16 takes the shapes over 16x16 outputs
        ///   or more and those with fewer than 128 channels in or out (1.0-2.1x; float32 Winograd
        ///   stays ahead on the wide 8x8 shapes and the weight gradients at 4x4, 0.6-0.9x).
        /// - 1x1 over at least 8x8 outputs: oneDNN's bf16 gemm on plain NCHW, every pass (1.1-2.5x,
        ///   but for two input gradients at 32x32, 0.8x and 0.94x).
        /// - 3x3 from fewer than 16 channels (the image): bf16 blocked forward (1.3-1.4x), bf16
        ///   plain input gradient (1.3-2.2x), float32 weight gradient (bf16 0.6-0.9x).
        /// - everything else (strided 3x3, thin outputs, 1x1 on 4x4): bf16 blocked, 1.2-2.0x.
        /// A geometry marked `float32Only` gets the float32 choice.
        public static func preferred(_ g: ConvGeometry, _ pass: Pass, _ precision: Precision) -> Variant {
            let f32 = preferred(g, pass)
            guard precision == .bf16 && !g.float32Only else { return f32 }
            if f32.algorithm == .winograd {
                let pixels = g.outHeight * g.outWidth
                if pixels <= 16 { return pass != .weightGradient ? Variant(.blocked, .direct, .bf16) : f32 }
                let wide = pixels >= 256 || min(g.inChannels, g.outChannels) < 128
                return VectorUnits.fullWidth512 && wide ? Variant(.blocked, .direct, .bf16) : f32
            }
            if g.kernelHeight == 1 && g.kernelWidth == 1 && g.outHeight * g.outWidth >= 64 {
                return Variant(.plain, .direct, .bf16)
            }
            if g.inChannels < 16 && g.kernelHeight == 3 {
                switch pass {
                case .forward: return Variant(.blocked, .direct, .bf16)
                case .inputGradient: return Variant(.plain, .direct, .bf16)
                case .weightGradient: return f32
                }
            }
            return Variant(.blocked, .direct, .bf16)
        }
    }

    /// Threads per call. oneDNN (Debian builds it with OpenMP) takes the count from the calling
    /// thread's OpenMP setting, which every call sets, so other OpenMP users keep theirs.
    public var threads: Int {
        didSet { precondition(threads >= 1, "DNNLConvolution needs at least one thread, got \(threads).") }
    }

    private let choose: (ConvGeometry, Pass) -> Variant
    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private var plans: [PlanKey: Plan] = [:]
    /// One buffer per operand slot (two inputs, one output, the forward pass's bias), grown to
    /// the largest need. Calls are serialised by the lock, so every plan can stage its operands in
    /// the same place.
    private var staging: [(buffer: UnsafeMutableRawPointer, bytes: Int)?] = [nil, nil, nil, nil]
    private let lock = NSLock()

    /// - Parameters:
    ///   - threads: threads per call (default one: the calling thread).
    ///   - choose: the layout and algorithm per shape and pass; a Winograd or auto choice that
    ///     oneDNN cannot serve for a shape falls back to the direct algorithm in the same layout.
    public init(threads: Int = 1, choose: @escaping (ConvGeometry, Pass) -> Variant = { Variant.preferred($0, $1) }) {
        precondition(threads >= 1, "DNNLConvolution needs at least one thread, got \(threads).")
        self.threads = threads
        self.choose = choose
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "dnnl_engine_create")
        var stream: dnnl_stream_t?
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "dnnl_stream_create")
        self.engine = engine!
        self.stream = stream!
    }

    /// The kernels of a precision: bf16 where `Variant.preferred` finds it faster.
    public convenience init(threads: Int, precision: Precision) {
        self.init(threads: threads) { Variant.preferred($0, $1, precision) }
    }

    deinit {
        plans.removeAll()
        for slot in staging { slot?.buffer.deallocate() }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    public func forward(_ g: ConvGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        run(g, .forward, [UnsafeMutableRawPointer(mutating: input), UnsafeMutableRawPointer(mutating: weight),
                          UnsafeMutableRawPointer(output)] + (bias.map { [UnsafeMutableRawPointer(mutating: $0)] } ?? []),
            bias: bias != nil)
    }

    public func inputGradient(_ g: ConvGeometry, outputGradient: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              inputGradient: UnsafeMutablePointer<Float>) {
        run(g, .inputGradient, [UnsafeMutableRawPointer(mutating: outputGradient),
                                UnsafeMutableRawPointer(mutating: weight), UnsafeMutableRawPointer(inputGradient)])
    }

    public func weightGradient(_ g: ConvGeometry, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                               weightGradient: UnsafeMutablePointer<Float>) {
        run(g, .weightGradient, [UnsafeMutableRawPointer(mutating: input),
                                 UnsafeMutableRawPointer(mutating: outputGradient), UnsafeMutableRawPointer(weightGradient)])
    }

    /// What serves a pass of a shape, e.g. `blocked/direct jit:avx512_core`: the variant actually
    /// used (after any fallback) and oneDNN's implementation name. Creates the plan if needed.
    /// `bias`: the forward plan that adds a bias.
    public func backend(_ g: ConvGeometry, _ pass: Pass, bias: Bool = false) -> String {
        lock.lock()
        defer { lock.unlock() }
        let plan = self.plan(g, pass, bias: bias)
        return "\(plan.variant) \(plan.implementation)"
    }

    /// Runs a pass on the staged operands without the reorders from and to NCHW/OIHW: what a
    /// caller that kept its tensors in oneDNN's layout would pay. For measurement only; run the
    /// same pass normally just before, so that the staging buffers hold its operands (and the
    /// caller's buffers of that call must still be alive where the layout is plain).
    public func executeSkippingReorders(_ g: ConvGeometry, _ pass: Pass) {
        lock.lock()
        defer { lock.unlock() }
        setOpenMPThreads(threads)
        let plan = self.plan(g, pass, bias: false)
        plan.executeSkippingReorders(staging: stagingBuffers(for: plan), stream: stream)
    }

    // MARK: - Plans

    private struct PlanKey: Hashable {
        let geometry: ConvGeometry
        let pass: Pass
        let bias: Bool
        let threads: Int
    }

    /// Operands are in the order of the public calls: two inputs, the output, then the forward
    /// pass's bias if there is one.
    private func run(_ g: ConvGeometry, _ pass: Pass, _ handles: [UnsafeMutableRawPointer], bias: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        setOpenMPThreads(threads)
        let plan = self.plan(g, pass, bias: bias)
        plan.execute(handles, staging: stagingBuffers(for: plan), stream: stream)
    }

    private func stagingBuffers(for plan: Plan) -> [UnsafeMutableRawPointer?] {
        zip(plan.operands.indices, plan.operands).map { slot, operand in
            guard operand.inner != nil else { return nil }
            if let current = staging[slot], current.bytes >= operand.innerBytes { return current.buffer }
            staging[slot]?.buffer.deallocate()
            // 64 bytes: one cache line, the alignment oneDNN's AVX-512 kernels prefer.
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: operand.innerBytes, alignment: 64)
            staging[slot] = (buffer, operand.innerBytes)
            return buffer
        }
    }

    private func plan(_ g: ConvGeometry, _ pass: Pass, bias: Bool) -> Plan {
        let key = PlanKey(geometry: g, pass: pass, bias: bias, threads: threads)
        if let plan = plans[key] { return plan }
        let wanted = choose(g, pass)
        let plan = Plan(g, pass, wanted, bias: bias, engine: engine)
            ?? Plan(g, pass, Variant(wanted.layout, .direct, wanted.precision), bias: bias, engine: engine)
            ?? Plan(g, pass, Variant(wanted.layout, .direct), bias: bias, engine: engine)!
        plans[key] = plan
        return plan
    }

    /// One pass of one shape: the oneDNN primitive, and for each operand the caller's buffer
    /// (an NCHW/OIHW memory object whose handle is set per call) and, when the primitive wants
    /// another layout, a memory object in that layout (its handle is set to a staging buffer per
    /// call) and the reorder between the two.
    private final class Plan {
        struct Operand {
            let argument: Int32
            let isOutput: Bool
            let user: dnnl_memory_t
            let inner: dnnl_memory_t?
            let innerBytes: Int
            let reorder: dnnl_primitive_t?
        }

        let variant: Variant
        let implementation: String
        private let primitive: dnnl_primitive_t
        let operands: [Operand]
        private let arguments: [dnnl_exec_arg_t]

        /// Nil when oneDNN has no implementation of this variant for this shape. With `bias`, the
        /// forward pass adds a bias (K), in float32.
        init?(_ g: ConvGeometry, _ pass: Pass, _ variant: Variant, bias: Bool, engine: dnnl_engine_t) {
            let source = [g.batch, g.inChannels, g.height, g.width].map(Int64.init)
            let weights = [g.outChannels, g.inChannels, g.kernelHeight, g.kernelWidth].map(Int64.init)
            let destination = [g.batch, g.outChannels, g.outHeight, g.outWidth].map(Int64.init)
            let strides = [Int64(g.stride), Int64(g.stride)]
            // oneDNN wants the padding that makes (H + top + bottom - R) / stride exact on the
            // right; the zeros it would add beyond that are never read, so ours is equivalent.
            let padLeft = [Int64(g.paddingHeight), Int64(g.paddingWidth)]
            let padRight = [
                Int64((g.outHeight - 1) * g.stride + g.kernelHeight - g.height - g.paddingHeight),
                Int64((g.outWidth - 1) * g.stride + g.kernelWidth - g.width - g.paddingWidth),
            ]
            let tag = variant.layout == .blocked ? dnnl_format_tag_any : dnnl_nchw
            // A pass reads its two inputs in the variant's precision and writes float32.
            let low = variant.precision == .bf16 ? dnnl_bf16 : dnnl_f32
            let (sourceType, weightsType, destinationType): (dnnl_data_type_t, dnnl_data_type_t, dnnl_data_type_t)
            switch pass {
            case .forward: (sourceType, weightsType, destinationType) = (low, low, dnnl_f32)
            case .inputGradient: (sourceType, weightsType, destinationType) = (dnnl_f32, low, low)
            case .weightGradient: (sourceType, weightsType, destinationType) = (low, dnnl_f32, low)
            }
            var sourceAny = memoryDescriptor(source, tag, sourceType)
            var weightsAny = memoryDescriptor(weights, variant.layout == .blocked ? dnnl_format_tag_any : dnnl_oihw,
                                              weightsType)
            var destinationAny = memoryDescriptor(destination, tag, destinationType)
            precondition(!bias || pass == .forward, "Only the forward pass of a convolution takes a bias.")
            // The bias (K) in float32, which the forward pass adds.
            let biasDescriptor: UnsafeMutablePointer<dnnl_memory_desc_t>? = bias ? .allocate(capacity: 1) : nil
            defer { biasDescriptor?.deallocate() }
            biasDescriptor?.initialize(to: memoryDescriptor([Int64(g.outChannels)], dnnl_a, dnnl_f32))
            // The backward passes' hint is a forward pass over the same types, bar the source or
            // weights they write in float32 where the forward pass reads them in `low`.
            var hintSource = memoryDescriptor(source, tag, low)
            var hintWeights = memoryDescriptor(weights, variant.layout == .blocked ? dnnl_format_tag_any : dnnl_oihw, low)
            let algorithm: dnnl_alg_kind_t
            switch variant.algorithm {
            case .direct: algorithm = dnnl_convolution_direct
            case .winograd: algorithm = dnnl_convolution_winograd
            case .auto: algorithm = dnnl_convolution_auto
            }

            // Every pass is made from the forward-training descriptor: the backward ones need it
            // as a hint, and it makes all three agree on the blocked layouts.
            var forwardDescriptor = dnnl_convolution_desc_t()
            check(dnnl_convolution_forward_desc_init(&forwardDescriptor, dnnl_forward_training, algorithm,
                                                     &hintSource, &hintWeights, biasDescriptor, &destinationAny,
                                                     strides, padLeft, padRight),
                  "dnnl_convolution_forward_desc_init")
            var forwardPD: dnnl_primitive_desc_t?
            let forwardStatus = dnnl_primitive_desc_create(&forwardPD, &forwardDescriptor, nil, engine, nil)
            if forwardStatus == dnnl_unimplemented { return nil }
            check(forwardStatus, "dnnl_primitive_desc_create (convolution forward)")
            defer { dnnl_primitive_desc_destroy(forwardPD) }

            var pd: dnnl_primitive_desc_t?
            // The caller's layouts: a blocked one that is the primitive's own needs no reorder.
            let (sourceTag, destinationTag) = (formatTag(g.inputLayout), formatTag(g.outputLayout))
            // (argument, query, its index, dimensions, the caller's tag, is an output) per operand, in
            // public order.
            var layout: [(Int32, dnnl_query_t, Int32, [Int64], dnnl_format_tag_t, Bool)]
            switch pass {
            case .forward:
                check(dnnl_primitive_desc_clone(&pd, forwardPD), "dnnl_primitive_desc_clone")
                layout = [(DNNL_ARG_SRC, dnnl_query_src_md, 0, source, sourceTag, false),
                          (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0, weights, dnnl_oihw, false),
                          (DNNL_ARG_DST, dnnl_query_dst_md, 0, destination, destinationTag, true)]
                if bias { layout.append((DNNL_ARG_BIAS, dnnl_query_weights_md, 1, [Int64(g.outChannels)], dnnl_a, false)) }
            case .inputGradient:
                var descriptor = dnnl_convolution_desc_t()
                check(dnnl_convolution_backward_data_desc_init(&descriptor, algorithm, &sourceAny, &weightsAny,
                                                               &destinationAny, strides, padLeft, padRight),
                      "dnnl_convolution_backward_data_desc_init")
                let status = dnnl_primitive_desc_create(&pd, &descriptor, nil, engine, forwardPD)
                if status == dnnl_unimplemented { return nil }
                check(status, "dnnl_primitive_desc_create (convolution backward data)")
                layout = [(DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0, destination, destinationTag, false),
                          (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, 0, weights, dnnl_oihw, false),
                          (DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, 0, source, sourceTag, true)]
            case .weightGradient:
                var descriptor = dnnl_convolution_desc_t()
                check(dnnl_convolution_backward_weights_desc_init(&descriptor, algorithm, &sourceAny, &weightsAny, nil,
                                                                  &destinationAny, strides, padLeft, padRight),
                      "dnnl_convolution_backward_weights_desc_init")
                let status = dnnl_primitive_desc_create(&pd, &descriptor, nil, engine, forwardPD)
                if status == dnnl_unimplemented { return nil }
                check(status, "dnnl_primitive_desc_create (convolution backward weights)")
                layout = [(DNNL_ARG_SRC, dnnl_query_src_md, 0, source, sourceTag, false),
                          (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, 0, destination, destinationTag, false),
                          (DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, 0, weights, dnnl_oihw, true)]
            }
            defer { dnnl_primitive_desc_destroy(pd) }

            var info: UnsafePointer<CChar>?
            check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info), "dnnl_primitive_desc_query")
            implementation = info.map { String(cString: $0) } ?? "?"
            var primitive: dnnl_primitive_t?
            check(dnnl_primitive_create(&primitive, pd), "dnnl_primitive_create (convolution)")
            self.primitive = primitive!
            self.variant = variant

            operands = layout.map { argument, query, index, dimensions, callerTag, isOutput in
                var caller = memoryDescriptor(dimensions, callerTag, dnnl_f32)
                var user: dnnl_memory_t?
                check(dnnl_memory_create(&user, &caller, engine, nil), "dnnl_memory_create")
                var wanted = dnnl_primitive_desc_query_md(pd, query, index)!.pointee
                guard dnnl_memory_desc_equal(&caller, &wanted) == 0 else {
                    return Operand(argument: argument, isOutput: isOutput, user: user!, inner: nil, innerBytes: 0, reorder: nil)
                }
                var inner: dnnl_memory_t?
                check(dnnl_memory_create(&inner, &wanted, engine, nil), "dnnl_memory_create")
                var reorderPD: dnnl_primitive_desc_t?
                if isOutput {
                    check(dnnl_reorder_primitive_desc_create(&reorderPD, &wanted, engine, &caller, engine, nil),
                          "dnnl_reorder_primitive_desc_create")
                } else {
                    check(dnnl_reorder_primitive_desc_create(&reorderPD, &caller, engine, &wanted, engine, nil),
                          "dnnl_reorder_primitive_desc_create")
                }
                defer { dnnl_primitive_desc_destroy(reorderPD) }
                var reorder: dnnl_primitive_t?
                check(dnnl_primitive_create(&reorder, reorderPD), "dnnl_primitive_create (reorder)")
                return Operand(argument: argument, isOutput: isOutput, user: user!, inner: inner,
                               innerBytes: dnnl_memory_desc_get_size(&wanted), reorder: reorder)
            }
            arguments = operands.map { dnnl_exec_arg_t(arg: $0.argument, memory: $0.inner ?? $0.user) }
        }

        deinit {
            for operand in operands {
                if let reorder = operand.reorder { dnnl_primitive_destroy(reorder) }
                if let inner = operand.inner { dnnl_memory_destroy(inner) }
                dnnl_memory_destroy(operand.user)
            }
            dnnl_primitive_destroy(primitive)
        }

        /// Reorders the inputs in, runs the primitive, reorders the output out.
        func execute(_ handles: [UnsafeMutableRawPointer], staging: [UnsafeMutableRawPointer?], stream: dnnl_stream_t) {
            for (operand, handle) in zip(operands, handles) {
                check(dnnl_memory_set_data_handle(operand.user, handle), "dnnl_memory_set_data_handle")
            }
            stage(staging)
            for operand in operands where !operand.isOutput {
                if let reorder = operand.reorder { Plan.reorder(reorder, from: operand.user, to: operand.inner!, stream) }
            }
            check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments),
                  "dnnl_primitive_execute (convolution)")
            for operand in operands where operand.isOutput {
                if let reorder = operand.reorder { Plan.reorder(reorder, from: operand.inner!, to: operand.user, stream) }
            }
            check(dnnl_stream_wait(stream), "dnnl_stream_wait")
        }

        func executeSkippingReorders(staging: [UnsafeMutableRawPointer?], stream: dnnl_stream_t) {
            stage(staging)
            check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments),
                  "dnnl_primitive_execute (convolution)")
            check(dnnl_stream_wait(stream), "dnnl_stream_wait")
        }

        private func stage(_ staging: [UnsafeMutableRawPointer?]) {
            for (operand, buffer) in zip(operands, staging) {
                if let inner = operand.inner {
                    check(dnnl_memory_set_data_handle(inner, buffer), "dnnl_memory_set_data_handle")
                }
            }
        }

        private static func reorder(_ reorder: dnnl_primitive_t, from: dnnl_memory_t, to: dnnl_memory_t,
                                    _ stream: dnnl_stream_t) {
            let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
            check(dnnl_primitive_execute(reorder, stream, 2, arguments), "dnnl_primitive_execute (reorder)")
        }
    }
}

private func formatTag(_ layout: ActivationLayout) -> dnnl_format_tag_t {
    switch layout {
    case .nchw: return dnnl_nchw
    case .nChw16c: return dnnl_nChw16c
    }
}

private func memoryDescriptor(_ dimensions: [Int64], _ tag: dnnl_format_tag_t, _ type: dnnl_data_type_t)
    -> dnnl_memory_desc_t {
    var descriptor = dnnl_memory_desc_t()
    check(dnnl_memory_desc_init_by_tag(&descriptor, Int32(dimensions.count), dimensions, type, tag),
          "dnnl_memory_desc_init_by_tag")
    return descriptor
}

/// A failing oneDNN call is a bug or an exhausted machine, never bad user input: stop, naming it.
private func check(_ status: dnnl_status_t, _ function: String) {
    guard status != dnnl_success else { return }
    let name: String
    switch status {
    case dnnl_out_of_memory: name = "dnnl_out_of_memory"
    case dnnl_invalid_arguments: name = "dnnl_invalid_arguments"
    case dnnl_unimplemented: name = "dnnl_unimplemented"
    case dnnl_runtime_error: name = "dnnl_runtime_error"
    default: name = "\(status.rawValue)"
    }
    fatalError("oneDNN: \(function) failed with status \(name)")
}

/// `omp_set_num_threads`, looked up at run time: libgomp comes in through libdnnl, and linking
/// it directly would tie this target to one OpenMP runtime. Without it oneDNN keeps its default.
private let ompSetNumThreads: (@convention(c) (Int32) -> Void)? = {
    guard let symbol = dlsym(nil, "omp_set_num_threads") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
}()

private func setOpenMPThreads(_ count: Int) {
    ompSetNumThreads?(Int32(count))
}
