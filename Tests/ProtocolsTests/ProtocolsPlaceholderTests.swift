import XCTest
@testable import Protocols

final class ProtocolsPlaceholderTests: XCTestCase {
    func testModuleLinks() { XCTAssertEqual(String(describing: ProtocolsModule.self), "ProtocolsModule") }
}
