import Testing
import VigilCore

@Suite struct TimeFormatTests {
    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (1_764_070_771.123, "2025-11-25T11:39:31.123Z"),
        (951_782_400.5, "2000-02-29T00:00:00.500Z"),
        (-0.001, "1969-12-31T23:59:59.999Z"),
        (4_102_444_800, "2100-01-01T00:00:00.000Z"),
    ])
    func formats(seconds: Double, text: String) {
        #expect(TimeFormat.iso8601(seconds) == text)
    }
}
