// The safetensors format (huggingface/safetensors), written and read without any dependency:
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   a JSON object {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
//             "__metadata__": {string: string}}, padded with spaces so the data starts 8-aligned
//   the rest  the tensors' raw little-endian bytes; offsets count from the end of the header.
// We write float32 only; the reader also walks files holding other dtypes (PyTorch or numpy
// checkpoints with integer or double tensors) and refuses only what it is asked to read as
// float32. It checks every offset as the reference implementation does, so a truncated or
// corrupt file is an error naming the file, never a crash or silent garbage.
import Foundation

#if !_endian(little)
#error("The safetensors reader and writer copy float32 bytes as they are: a little-endian host is assumed.")
#endif

public struct SafeTensorsError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public enum SafeTensors {
    /// One float32 tensor to write: its values are read from `data` (count = product of `shape`).
    public typealias Entry = (name: String, shape: [Int], data: UnsafePointer<Float>)

    /// Writes `tensors` (in this order) and `metadata` to `path`, through `path.tmp`, which is
    /// synced to disk and then renamed: a crash leaves either the old file or the new one.
    public static func write(path: String, tensors: [Entry], metadata: [String: String]) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in tensors {
            guard tensor.name != "__metadata__", header[tensor.name] == nil else {
                throw SafeTensorsError("Cannot write \(path): the tensor name '\(tensor.name)' is reserved or used twice.")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafeTensorsError("Cannot write \(path): tensor '\(tensor.name)' has a negative dimension in shape \(tensor.shape).")
            }
            let bytes = tensor.shape.reduce(1, *) * MemoryLayout<Float>.size
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        // Sorted keys: the same tensors and metadata always give the same bytes.
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))

        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SafeTensorsError("Cannot write \(temporary): \(String(cString: strerror(errno))).") }
        do {
            defer { close(fd) }
            func writeAll(_ bytes: UnsafeRawPointer, _ count: Int) throws {
                var done = 0
                while done < count {
                    let n = writeBytes(fd, bytes + done, count - done)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw SafeTensorsError("Cannot write \(temporary): \(String(cString: strerror(errno))).") }
                    done += n
                }
            }
            var length = UInt64(json.count).littleEndian
            try writeAll(&length, 8)
            try json.withUnsafeBytes { try writeAll($0.baseAddress!, json.count) }
            for tensor in tensors {
                try writeAll(tensor.data, tensor.shape.reduce(1, *) * MemoryLayout<Float>.size)
            }
            guard fsync(fd) == 0 else { throw SafeTensorsError("Cannot sync \(temporary) to disk: \(String(cString: strerror(errno))).") }
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SafeTensorsError("Cannot rename \(temporary) to \(path): \(reason).")
        }
        // Sync the directory too, so the rename itself survives a crash.
        let directory = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY)
        if directory >= 0 { fsync(directory); close(directory) }
    }

    /// Reads the header of the file at `path` and checks it; tensors are read on demand.
    public static func read(path: String) throws -> SafeTensorsFile { try SafeTensorsFile(path: path) }
}

/// POSIX write(2), named apart so that `SafeTensors.write` does not shadow it.
private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }

/// The element types of the format, with their sizes (all of them, so that any file can be walked).
public enum SafeTensorsDType: String, Sendable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", u16 = "U16", i16 = "I16", f16 = "F16", bf16 = "BF16"
    case u32 = "U32", i32 = "I32", f32 = "F32", u64 = "U64", i64 = "I64", f64 = "F64"

    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .u16, .i16, .f16, .bf16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }
}

/// An opened safetensors file: its tensors' descriptions and its metadata, checked; the bytes
/// are memory-mapped and copied out only when a tensor is asked for.
public final class SafeTensorsFile {
    public struct TensorInfo: Equatable, Sendable {
        public let dtype: SafeTensorsDType
        public let shape: [Int]
        /// Byte range within the data section (after the header).
        public let dataOffsets: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let metadata: [String: String]
    public let tensors: [String: TensorInfo]
    /// Tensor names in the order of their data in the file.
    public let names: [String]
    private let bytes: Data
    private let dataStart: Int

    init(path: String) throws {
        self.path = path
        func failure(_ what: String) -> SafeTensorsError { SafeTensorsError("\(path) is not a valid safetensors file: \(what).") }
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw SafeTensorsError("Cannot read \(path): expected a readable safetensors file (\(error.localizedDescription)).")
        }
        guard bytes.count >= 8 else { throw failure("expected an 8-byte header length, found only \(bytes.count) bytes") }
        let headerLength = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw failure("the header length \(headerLength) exceeds the \(bytes.count - 8) bytes after it (the file is truncated or corrupt)")
        }
        dataStart = 8 + Int(headerLength)
        let dataLength = bytes.count - dataStart
        guard let header = (try? JSONSerialization.jsonObject(with: bytes[8..<dataStart])) as? [String: Any] else {
            throw failure("expected a JSON object in the \(headerLength)-byte header")
        }

        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let strings = raw as? [String: String] else { throw failure("expected __metadata__ to map strings to strings") }
            metadata = strings
        }
        self.metadata = metadata

        var tensors: [String: TensorInfo] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any]).flatMap(SafeTensorsFile.integers),
                  let offsets = (entry["data_offsets"] as? [Any]).flatMap(SafeTensorsFile.integers), offsets.count == 2 else {
                throw failure("expected tensor '\(name)' to have a dtype string, a shape and two data_offsets, all integers")
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw failure("tensor '\(name)' has dtype '\(dtypeName)', expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL")
            }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw failure("tensor '\(name)' has data_offsets \(offsets) outside the \(dataLength) data bytes (the file is truncated or corrupt)")
            }
            let (count, overflow) = shape.reduce((1, false)) { let p = $0.0.multipliedReportingOverflow(by: $1); return (p.partialValue, $0.1 || p.overflow) }
            guard !overflow, count.multipliedReportingOverflow(by: dtype.byteSize) == (offsets[1] - offsets[0], false) else {
                throw failure("tensor '\(name)' of shape \(shape) and dtype \(dtypeName) needs \(count) x \(dtype.byteSize) bytes, but its data_offsets \(offsets) hold \(offsets[1] - offsets[0])")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
        }
        // As in the reference reader, the tensors must tile the data section exactly: no overlap, no gap.
        let ordered = tensors.sorted { ($0.value.dataOffsets.lowerBound, $0.key) < ($1.value.dataOffsets.lowerBound, $1.key) }
        var end = 0
        for (name, info) in ordered {
            guard info.dataOffsets.lowerBound == end else {
                throw failure("tensor '\(name)' starts at data byte \(info.dataOffsets.lowerBound), expected \(end) (tensors must not overlap or leave gaps)")
            }
            end = info.dataOffsets.upperBound
        }
        guard end == dataLength else {
            throw failure("the tensors cover \(end) data bytes but the file holds \(dataLength) after the header")
        }
        self.tensors = tensors
        names = ordered.map(\.key)
    }

    /// Non-negative integers from JSON numbers, or nil if any is not one.
    private static func integers(_ values: [Any]) -> [Int]? {
        let result = values.map { value -> Int? in
            guard let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) else { return nil }
            return int
        }
        return result.contains(nil) ? nil : result.map { $0! }
    }

    /// The description of tensor `name`, or an error naming the file and the tensor.
    public func info(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else { throw SafeTensorsError("\(path) has no tensor named '\(name)'.") }
        return info
    }

    /// The description of tensor `name`, which must hold `count` float32 values when `count` is given.
    private func float32Info(_ name: String, count: Int? = nil) throws -> TensorInfo {
        let info = try info(name)
        guard info.dtype == .f32 else {
            throw SafeTensorsError("Tensor '\(name)' in \(path) has dtype \(info.dtype.rawValue), expected F32.")
        }
        if let count, info.count != count {
            throw SafeTensorsError("Tensor '\(name)' in \(path) holds \(info.count) values (shape \(info.shape)), expected \(count).")
        }
        return info
    }

    /// Copies the float32 tensor `name` into `destination`, which holds `count` floats.
    public func copy(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        copyData(of: try float32Info(name, count: count), to: destination)
    }

    /// The float32 tensor `name` as an array.
    public func floats(_ name: String) throws -> [Float] {
        let info = try float32Info(name)
        return [Float](unsafeUninitializedCapacity: info.count) { buffer, initialized in
            if let base = buffer.baseAddress { copyData(of: info, to: base) }
            initialized = info.count
        }
    }

    private func copyData(of info: TensorInfo, to destination: UnsafeMutableRawPointer) {
        bytes.withUnsafeBytes { raw in
            destination.copyMemory(from: raw.baseAddress! + dataStart + info.dataOffsets.lowerBound, byteCount: info.dataOffsets.count)
        }
    }

    /// The float32 tensor `name` as a new Tensor of its stored shape.
    public func tensor(_ name: String) throws -> Tensor {
        let info = try info(name)
        let tensor = Tensor(uninitialized: info.shape)
        try copy(name, into: tensor.data, count: info.count)
        return tensor
    }
}
