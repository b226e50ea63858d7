// The part of Protocol Buffers' wire format that TensorBoard's Event and Summary messages use:
// each field is its key (field number << 3 | wire type) as a varint, then its value.

struct ProtobufMessage {
    private(set) var encoded: [UInt8] = []

    /// int32, int64 (negative values as ten-byte two's complement, as protobuf does) and enums.
    mutating func integer(_ field: Int, _ value: Int) {
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, wireType: 1)
        encoded += littleEndianBytes(value.bitPattern)
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, wireType: 5)
        encoded += littleEndianBytes(value.bitPattern)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, wireType: 2)
        varint(UInt64(value.count))
        encoded += value
    }

    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ value: ProtobufMessage) { bytes(field, value.encoded) }

    private mutating func key(_ field: Int, wireType: Int) { varint(UInt64(field << 3 | wireType)) }

    private mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            encoded.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        encoded.append(UInt8(rest))
    }
}
