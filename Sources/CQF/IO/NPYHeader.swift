// The header of a `.npy` array (numpy's format, version 1, 2 or 3): the magic "\x93NUMPY",
// then a Python dict literal giving the dtype, the memory order and the shape. Read far enough
// to know what the bytes after it are.
import Foundation

/// What a `.npy` header says.
public struct NPYHeader: Equatable, Sendable {
    /// The dtype string, such as "|u1" or "<i8".
    public let descr: String
    public let fortranOrder: Bool
    public let shape: [Int]
    /// Bytes before the array data.
    public let size: Int

    /// Parses the header at the start of a `.npy` stream; `read` gives the stream's next bytes.
    /// `name` names the file in errors.
    public init(name: String, read: (UnsafeMutablePointer<UInt8>, Int) throws -> Void) throws {
        var prefix = [UInt8](repeating: 0, count: 10)
        try prefix.withUnsafeMutableBufferPointer { try read($0.baseAddress!, 10) }
        guard prefix[0] == 0x93, Array(prefix[1..<6]) == Array("NUMPY".utf8), (1...3).contains(prefix[6]) else {
            throw DataError(file: name, "expected a .npy array starting with \\x93NUMPY, found other bytes")
        }
        var length = Int(prefix[8]) | Int(prefix[9]) << 8
        var start = 10
        if prefix[6] >= 2 {
            var more = [UInt8](repeating: 0, count: 2)
            try more.withUnsafeMutableBufferPointer { try read($0.baseAddress!, 2) }
            length |= Int(more[0]) << 16 | Int(more[1]) << 24
            start = 12
        }
        guard length < 1 << 20 else { throw DataError(file: name, "has a .npy header of \(length) bytes; expected a small dict") }
        var text = [UInt8](repeating: 0, count: length)
        try text.withUnsafeMutableBufferPointer { try read($0.baseAddress!, length) }
        let dict = String(decoding: text, as: UTF8.self)
        func value(_ key: String) -> Substring? {
            guard let range = dict.range(of: "'\(key)':") else { return nil }
            return dict[range.upperBound...].drop { $0 == " " }
        }
        guard let descrText = value("descr"), descrText.first == "'", let close = descrText.dropFirst().firstIndex(of: "'"),
              let orderText = value("fortran_order"), let shapeText = value("shape"), shapeText.first == "(",
              let shapeClose = shapeText.firstIndex(of: ")") else {
            throw DataError(file: name, "has a .npy header that is not the dict numpy writes: \(dict)")
        }
        descr = String(descrText[descrText.index(after: descrText.startIndex)..<close])
        fortranOrder = orderText.hasPrefix("True")
        let dimensions = shapeText[shapeText.index(after: shapeText.startIndex)..<shapeClose]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let parsed = dimensions.compactMap { Int($0) }
        guard parsed.count == dimensions.count, parsed.allSatisfy({ $0 >= 0 }) else {
            throw DataError(file: name, "has a .npy shape numpy did not write: \(shapeText[...shapeClose])")
        }
        // Every later size is computed from the element count: it must not overflow.
        let elements = parsed.reduce((count: 1, overflow: false)) { product, dimension in
            let next = product.count.multipliedReportingOverflow(by: dimension)
            return (next.partialValue, product.overflow || next.overflow)
        }
        guard !elements.overflow, elements.count <= 1 << 48 else {
            throw DataError(file: name, "has a .npy shape of more elements than any file holds: \(shapeText[...shapeClose])")
        }
        shape = parsed
        size = start + length
    }
}
