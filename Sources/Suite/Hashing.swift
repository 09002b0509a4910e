import Foundation
import Media

/// SHA-256 hex digests for identities and provenance.
enum SHA256Text {
    static func hex(_ text: String) -> String { SHA256.hex(text) }
    static func hex(_ data: Data) -> String {
        let sha = SHA256()
        sha.update([UInt8](data))
        return sha.hexDigest()
    }
}
