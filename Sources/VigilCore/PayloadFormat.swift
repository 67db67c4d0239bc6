/// How ``PayloadDecoder`` reads a payload's bytes.
///
/// Each format's rules are in the ``PayloadDecoder`` documentation. Choose ``auto`` when one
/// broker carries devices that speak different formats: it decides per message, from the
/// first non-whitespace byte.
package enum PayloadFormat: Sendable, CaseIterable {
    /// Decide per message: `{` is ``json``, `[` is ``senml``, a digit or `-` is ``number``;
    /// anything else is ``PayloadError/notJSON``.
    case auto
    /// One JSON object, flattened to dotted names (`{"env":{"t":21.5}}` gives `env.t`).
    case json
    /// SenML JSON (RFC 8428): an array of records, each resolved against the base fields
    /// before it; a metric per record with a numeric or boolean value, with its own time.
    case senml
    /// One bare JSON number, reported as the metric `value`.
    case number
}
