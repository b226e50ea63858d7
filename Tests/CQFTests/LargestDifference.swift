// Comparisons that no NaN can pass. Swift's `>` and `<` are false for a NaN, so `max`,
// `Sequence.max()` and a loop that keeps the largest error by `>` all pass over it: the value that
// is most wrong would count as no error at all. Here a value that is not finite, on either side,
// is an infinite difference, which fails every tolerance.

/// The largest |actual[i] - expected[i]| and its index: infinite, at the first such index, where
/// either value is not finite.
func largestDifference<T: BinaryFloatingPoint>(_ actual: [T], _ expected: [T]) -> (value: Double, index: Int) {
    precondition(actual.count == expected.count, "largestDifference: \(actual.count) and \(expected.count) values")
    var largest = (value: 0.0, index: 0)
    for (i, (a, b)) in zip(actual, expected).enumerated() {
        guard a.isFinite && b.isFinite else { return (.infinity, i) }
        let difference = Double(abs(a - b))
        if difference > largest.value { largest = (difference, i) }
    }
    return largest
}

/// The largest |value|: infinite where a value is not finite.
func largestMagnitude<T: BinaryFloatingPoint>(_ values: [T]) -> Double {
    var largest = 0.0
    for value in values {
        guard value.isFinite else { return .infinity }
        largest = Swift.max(largest, Double(abs(value)))
    }
    return largest
}
