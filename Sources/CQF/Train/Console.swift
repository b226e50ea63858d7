// Standard error is for errors, warnings and progress; standard output for results (JSON).
import Foundation

public enum Console {
    public static func error(_ line: String) {
        FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
    }
}
