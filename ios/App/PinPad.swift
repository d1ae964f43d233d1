import SwiftUI

/// The shortest PIN the core accepts.
let minPinLength = 4
private let maxPinLength = 12

/// A numeric PIN pad showing dots for the digits entered. Its own keys rather than the system
/// keyboard, so no keyboard extension sees the PIN.
struct PinPad: View {
    let title: String
    @Binding var pin: String
    var doneLabel = "OK"
    var enabled = true
    let onDone: () -> Void

    private static let rows = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["delete", "0", "done"]]

    var body: some View {
        VStack(spacing: 12) {
            Text(title).font(.headline)
            Text(pin.isEmpty ? " " : String(repeating: "●", count: pin.count))
                .font(.system(.title, design: .monospaced))
                .accessibilityLabel("\(pin.count) digits entered")
            ForEach(Self.rows, id: \.self) { row in
                HStack(spacing: 12) {
                    ForEach(row, id: \.self) { key in
                        keyButton(key)
                    }
                }
            }
        }
    }

    @ViewBuilder
    private func keyButton(_ key: String) -> some View {
        switch key {
        case "delete":
            Button {
                pin.removeLast()
            } label: {
                Image(systemName: "delete.left").frame(width: 80, height: 48)
            }
            .disabled(!enabled || pin.isEmpty)
            .accessibilityLabel("Delete")
        case "done":
            Button(action: onDone) {
                Text(doneLabel).frame(width: 80, height: 48)
            }
            .buttonStyle(.borderedProminent)
            .disabled(!enabled || pin.count < minPinLength)
        default:
            Button {
                if pin.count < maxPinLength { pin.append(key) }
            } label: {
                Text(key).font(.title2).frame(width: 80, height: 48)
            }
            .buttonStyle(.bordered)
            .disabled(!enabled)
        }
    }
}

/// Choosing a new PIN: typed twice on a [PinPad] and compared here, so a mistyped PIN is never
/// sent. `onChosen` gets the PIN once both entries match; on a mismatch both are asked again.
/// The digits live only in this view's state, and only until `onChosen` takes them.
struct NewPinPad: View {
    var chooseTitle = "Choose a PIN of at least \(minPinLength) digits"
    var repeatTitle = "Enter the same PIN again"
    var mismatchText = "The PINs did not match. Choose one again."
    var doneLabel = "OK"
    var enabled = true
    let onChosen: (String) -> Void

    @State private var first: String?
    @State private var pin = ""
    @State private var mismatch = false

    var body: some View {
        VStack(spacing: 12) {
            if mismatch {
                Text(mismatchText).foregroundStyle(.red)
            }
            PinPad(
                title: first == nil ? chooseTitle : repeatTitle,
                pin: $pin,
                doneLabel: first == nil ? "OK" : doneLabel,
                enabled: enabled,
                onDone: confirm
            )
        }
    }

    private func confirm() {
        let entered = pin
        pin = ""
        guard let chosen = first else {
            first = entered
            mismatch = false
            return
        }
        // A retry after a failed call starts from the beginning.
        first = nil
        guard chosen == entered else {
            mismatch = true
            return
        }
        onChosen(chosen)
    }
}
