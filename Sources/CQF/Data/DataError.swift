// The one error type of the data layer: a whole sentence that names the file and says what was
// expected and what was found, printed as it is by the command line (`error: ...`).

/// A dataset file that cannot be read as what it claims to be.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    /// "<path>: <problem>."
    public init(file path: String, _ problem: String) {
        description = "\(path): \(problem)."
    }
}
