// The engine's one data type: an immutable float32 array of up to four dimensions (NCHW
// for images) in a contiguous buffer, plus the record of the op that made it when gradients
// are being recorded. Ops return new tensors; only the optimizer and the kernels that fill a
// fresh output write into a buffer.
import Foundation

/// A reference-counted, 64-byte aligned float buffer. Views (reshapes, parameter views) share it.
public final class Storage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        _ = Storage.keepFreedMemory
        self.count = count
        pointer = BufferPool.allocate(bytes: count * 4).bindMemory(to: Float.self, capacity: max(count, 1))
        Storage.liveBytes.add(count * 4)
    }

    deinit {
        BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: count * 4)
        Storage.liveBytes.add(-count * 4)
    }

    /// The small buffers (below `BufferPool.threshold`) and everything else malloc'd in the
    /// process (oneDNN's scratchpads among them) stay in glibc's heap without trimming
    /// (M_TRIM_THRESHOLD = -1) or mmap (M_MMAP_MAX = 0): freed memory is reused by the next step
    /// instead of being handed back to the kernel, which would zero it again.
    private static let keepFreedMemory: Void = {
        _ = mallopt(-4 /* M_MMAP_MAX */, 0)
        _ = mallopt(-1 /* M_TRIM_THRESHOLD */, -1)
    }()

    /// Bytes held by all live storages: the memory test and `bench` read it.
    public static let liveBytes = AtomicCounter()
}

/// A counter that several threads may move (storages are freed on whichever thread drops them).
public final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private var highest = 0
    private let lock = NSLock()
    public func add(_ delta: Int) { lock.lock(); value += delta; highest = max(highest, value); lock.unlock() }
    public var current: Int { lock.lock(); defer { lock.unlock() }; return value }
    /// The highest value so far.
    public var peak: Int { lock.lock(); defer { lock.unlock() }; return highest }
}

public final class Tensor {
    public let shape: [Int]
    public let storage: Storage
    public let offset: Int
    /// The op that computed this tensor, when it was recorded for differentiation.
    var node: Node?
    /// True for parameters and for every recorded result that depends on one.
    public internal(set) var requiresGrad: Bool

    /// A new tensor of `shape` with uninitialised contents (the caller fills it).
    init(uninitialized shape: [Int]) {
        self.shape = shape
        storage = Storage(count: shape.reduce(1, *))
        offset = 0
        requiresGrad = false
    }

    /// A view of `count(shape)` floats of `storage` starting at `offset`.
    public init(shape: [Int], storage: Storage, offset: Int = 0, requiresGrad: Bool = false) {
        precondition(offset + shape.reduce(1, *) <= storage.count, "A view of shape \(shape) does not fit its storage.")
        self.shape = shape
        self.storage = storage
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    public convenience init(shape: [Int], repeating value: Float) {
        self.init(uninitialized: shape)
        data.update(repeating: value, count: count)
    }

    public convenience init(shape: [Int], _ values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape).")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    public convenience init(_ value: Float) { self.init(shape: [], [value]) }

    public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }
    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }
    public var scalar: Float { precondition(count == 1, "A tensor of shape \(shape) is not a scalar."); return data[0] }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The same values, cut from the graph: gradients do not flow through the result.
    public var detached: Tensor { Tensor(shape: shape, storage: storage, offset: offset) }

    /// Marks a leaf (a parameter, or an input whose gradient is wanted).
    @discardableResult
    public func requiringGrad() -> Tensor {
        precondition(node == nil, "Only a leaf tensor can be made to require gradients.")
        requiresGrad = true
        return self
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = array.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(shown)\(count > 8 ? ", ..." : "")]"
    }
}

/// glibc's tuning call; Swift's Glibc module does not import malloc.h.
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
