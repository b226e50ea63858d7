// LSUN as exported by its own tools: an lmdb database (a folder such as `bedroom_train_lmdb/`
// holding `data.mdb`, or the `data.mdb` file itself) whose values are WebP or JPEG images.
// Each is center-cropped and resized (64 by default, as the paper trains on 64x64 bedrooms),
// in the database's key order. An undecodable record is skipped with a warning, not fatal:
// three million scraped images are not all intact. LSUN ships each split as its own database
// (`bedroom_train_lmdb`, and `bedroom_val_lmdb`, whose 300 images are the test set), so the
// path chooses the images; `--split` is checked against the database's name, so that a
// mismatch is caught rather than packed under the wrong name.
import CImageCodecs
import Foundation

/// The images of an LSUN lmdb export.
public struct LSUNSource: ImageSource {
    public let path: String
    public let shape: ImageShape
    public let expectedCount: Int
    public let crop: Int?

    public init(path: String, split: Split, size: Int, crop: Int?) throws {
        try LSUNSource.check(path, holds: split)
        self.path = path
        self.crop = crop
        shape = ImageShape(channels: 3, height: size, width: size)
        expectedCount = try LSUNSource.withDatabase(path) { transaction, database in
            var statistics = MDB_stat()
            try LSUNSource.check(mdb_stat(transaction, database, &statistics), path, "cannot be read as lmdb")
            return Int(clamping: statistics.ms_entries)
        }
    }

    public func forEachImage(in items: Range<Int>, warn: (String) -> Void, _ body: (UnsafePointer<UInt8>) throws -> Void) throws {
        let decoder = ImageDecoder(size: shape.height, crop: crop)
        let image = UnsafeMutablePointer<UInt8>.allocate(capacity: shape.byteCount)
        defer { image.deallocate() }
        try LSUNSource.withDatabase(path) { transaction, database in
            var cursor: OpaquePointer?
            try LSUNSource.check(mdb_cursor_open(transaction, database, &cursor), path, "cannot be read as lmdb")
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val(), value = MDB_val()
            var status = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            // The records before the range are stepped over, not decoded.
            var record = 0
            while status == 0 && record < items.lowerBound {
                status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                record += 1
            }
            while status == 0 && record < items.upperBound {
                do {
                    try decoder.decode(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size), into: image)
                    try body(image)
                } catch let error as DataError {
                    let name = String(decoding: UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size), as: UTF8.self)
                    warn("\(path): record \(name) \(error.description); skipped.")
                }
                status = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                record += 1
            }
            guard status == 0 || status == MDB_NOTFOUND else {
                try LSUNSource.check(status, path, "cannot be read to its end as lmdb")
                return
            }
        }
    }

    /// Refuses a database whose publisher's name says it holds another split than `split`.
    static func check(_ path: String, holds split: Split) throws {
        let url = URL(fileURLWithPath: path)
        let name = url.lastPathComponent == "data.mdb" ? url.deletingLastPathComponent().lastPathComponent : url.lastPathComponent
        let named: Split? = name.hasSuffix("_train_lmdb") ? .train : name.hasSuffix("_val_lmdb") ? .test : nil
        if let named, named != split {
            throw DataError(file: path, "is LSUN's \(named == .train ? "training" : "validation (test)") database, not its \(split.rawValue) split; "
                + "LSUN's test images are the category's _val_lmdb, its training images the _train_lmdb")
        }
    }

    /// Runs `body` inside a read-only transaction on the unnamed database of the environment.
    static func withDatabase<Result>(_ path: String, _ body: (OpaquePointer?, MDB_dbi) throws -> Result) throws -> Result {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, "does not exist; expected an LSUN lmdb folder (holding data.mdb) or its data.mdb")
        }
        var environment: OpaquePointer?
        try check(mdb_env_create(&environment), path, "cannot be opened as lmdb")
        defer { mdb_env_close(environment) }
        let flags = UInt32(MDB_RDONLY | MDB_NOLOCK) | (isDirectory.boolValue ? 0 : UInt32(MDB_NOSUBDIR))
        try check(mdb_env_open(environment, path, flags, 0o444), path, "cannot be opened as an lmdb database")
        var transaction: OpaquePointer?
        try check(mdb_txn_begin(environment, nil, UInt32(MDB_RDONLY), &transaction), path, "cannot be read as lmdb")
        defer { mdb_txn_abort(transaction) }
        var database: MDB_dbi = 0
        try check(mdb_dbi_open(transaction, nil, 0, &database), path, "cannot be read as lmdb")
        return try body(transaction, database)
    }

    static func check(_ status: Int32, _ path: String, _ what: String) throws {
        guard status == 0 else {
            throw DataError(file: path, "\(what) (lmdb: \(String(cString: mdb_strerror(status))))")
        }
    }
}
