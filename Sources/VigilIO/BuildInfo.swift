/// The version this build reports (`vigil version`, logs, and later `vigil_build_info`).
package enum BuildInfo {
    package static let version = "0.1.0"
}
