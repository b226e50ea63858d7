// Reads a float array member of a numpy `.npz` (stored or deflated, as np.savez and
// np.savez_compressed write them) into float64: feature statistics and the metrics' fixtures.
// The header's shape is checked by the caller and against the member's size before anything
// is allocated.

extension ZipArchive {
    /// The values of member `<key>.npy`, float64 ('<f8') or float32 ('<f4') in C order, as
    /// float64, with its shape. `accepts` judges the shape; `expected` says in errors what it
    /// accepts.
    public func floatArray(_ key: String, expected: String,
                           accepts: ([Int]) -> Bool) throws -> (shape: [Int], values: [Double]) {
        let path = file.path
        guard let member = members.first(where: { $0.name == "\(key).npy" }) else {
            throw DataError(file: path, "has no key \(key); expected \(expected)")
        }
        let reader = try self.reader(for: member)
        let header = try NPYHeader(name: "\(path) (\(key).npy)") { try reader.read(into: $0, count: $1) }
        let itemSize = ["<f8": 8, "<f4": 4][header.descr]
        // The element count, nil when the shape's product overflows.
        let elements = header.shape.reduce(Int?(1)) { product, extent in
            product.flatMap { $0.multipliedReportingOverflow(by: extent) }.flatMap { $0.overflow ? nil : $0.partialValue }
        }
        guard let itemSize, let elements, !header.fortranOrder, header.shape.allSatisfy({ $0 >= 0 }), accepts(header.shape),
              elements <= (member.size - header.size) / itemSize, member.size == header.size + itemSize * elements else {
            throw DataError(file: path, "key \(key) holds dtype \(header.descr), shape \(header.shape)\(header.fortranOrder ? " in Fortran order" : ""), \(member.size - header.size) bytes of data; expected \(expected), float64 or float32 in C order")
        }
        if itemSize == 8 {
            var bits = [UInt64](repeating: 0, count: elements)
            try bits.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: $0.count) }
            return (header.shape, bits.map { Double(bitPattern: UInt64(littleEndian: $0)) })
        }
        var bits = [UInt32](repeating: 0, count: elements)
        try bits.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: $0.count) }
        return (header.shape, bits.map { Double(Float(bitPattern: UInt32(littleEndian: $0))) })
    }
}
