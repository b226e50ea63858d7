// An lmdb database in LSUN's layout (one record per image, read in key order), for the inputs
// that `bench --data` and the tests make: keys "00000000", "00000001", ..., so that their order
// is the values' order.
import CImageCodecs
import Foundation

/// Writes `values` into a new lmdb environment in the existing folder `folder`.
public func writeLMDB(folder: String, values: [[UInt8]]) throws {
    func check(_ status: Int32, _ what: String) throws {
        guard status == 0 else { throw DataError(file: folder, "\(what) (lmdb: \(String(cString: mdb_strerror(status))))") }
    }
    var environment: OpaquePointer?
    try check(mdb_env_create(&environment), "cannot hold a new lmdb environment")
    defer { mdb_env_close(environment) }
    // The map must hold the values and lmdb's pages around them.
    let bytes = values.reduce(0) { $0 + $1.count }
    try check(mdb_env_set_mapsize(environment, 2 * bytes + (64 << 20)), "cannot size an lmdb map")
    try check(mdb_env_open(environment, folder, 0, 0o664), "cannot be opened as an lmdb environment")
    var transaction: OpaquePointer?
    try check(mdb_txn_begin(environment, nil, 0, &transaction), "cannot start an lmdb transaction")
    var database: MDB_dbi = 0
    try check(mdb_dbi_open(transaction, nil, 0, &database), "cannot open its lmdb database")
    for (index, value) in values.enumerated() {
        var key = Array(String(format: "%08d", index).utf8)
        var value = value
        let status = key.withUnsafeMutableBytes { key in
            value.withUnsafeMutableBytes { value in
                var k = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
                var v = MDB_val(mv_size: value.count, mv_data: value.baseAddress)
                return mdb_put(transaction, database, &k, &v, 0)
            }
        }
        if status != 0 { mdb_txn_abort(transaction) }
        try check(status, "cannot store record \(index)")
    }
    try check(mdb_txn_commit(transaction), "cannot commit its lmdb transaction")
}

/// `pixels` (HWC RGB) as a lossy WebP of `quality` (0-100), as LSUN stores its images.
public func encodeWebP(_ pixels: [UInt8], width: Int, height: Int, quality: Float) -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>?
    let size = pixels.withUnsafeBufferPointer {
        WebPEncodeRGB($0.baseAddress, Int32(width), Int32(height), Int32(width * 3), quality, &output)
    }
    defer { WebPFree(output) }
    return Array(UnsafeBufferPointer(start: output, count: size))
}
