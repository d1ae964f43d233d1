import SwiftUI
import UIKit
import Nyckel
import NyckelFFI

/// On a registered phone: makes an "add a phone" code and shows it as text with a copy button
/// and its expiry (the app has no QR renderer; the new phone pastes the code).
struct AddPhoneView: View {
    @ObservedObject var model: NewPhoneModel
    let registration: RegistrationInfo
    let close: () -> Void
    @State private var name = "New phone"

    var body: some View {
        NavigationStack {
            Form {
                Text("For \(registration.name)").font(.subheadline)
                if let code = model.code {
                    Text("On the new phone, choose \"Register from my other phone\" and paste this code:")
                    Text(code.qr).font(.system(.body, design: .monospaced)).textSelection(.enabled)
                    Button("Copy code") { UIPasteboard.general.string = code.qr }
                    Text("Works until \(formatTime(code.expiresAt)).").font(.caption)
                    Text("This phone then asks you to approve the new one: compare the fingerprint both phones show.")
                        .font(.caption)
                } else if model.makingCode {
                    ProgressView()
                } else {
                    if let error = model.codeError { Text(error).foregroundStyle(.red) }
                    TextField("Name of the new phone", text: $name)
                    Button("Show code") {
                        model.makeCode(registrationId: registration.id, deviceName: name.trimmingCharacters(in: .whitespaces))
                    }
                    .disabled(name.trimmingCharacters(in: .whitespaces).isEmpty)
                }
            }
            .navigationTitle("Add a phone")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) { Button("Done", action: close) }
            }
        }
    }
}

/// On the new phone: the pasted code and a PIN chosen twice send the request; then the number
/// and fingerprint the other phone must show while it decides: approved, denied or expired.
struct NewPhoneView: View {
    @ObservedObject var model: NewPhoneModel
    let close: () -> Void
    @State private var code = ""
    @State private var codeGiven = false

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(spacing: 16) {
                    content
                }
                .padding()
            }
            .navigationTitle("Register from my other phone")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") {
                        model.cancel()
                        close()
                    }
                }
            }
        }
    }

    @ViewBuilder
    private var content: some View {
        switch model.newPhone {
        case .idle, .failed:
            if case .failed(let message) = model.newPhone {
                Text(message).foregroundStyle(.red)
            }
            if !codeGiven {
                Text("On your registered phone, open \"Add a phone\" and paste its code here.")
                TextField("Add-a-phone code", text: $code, axis: .vertical)
                    .textFieldStyle(.roundedBorder)
                Button("Paste") { code = UIPasteboard.general.string ?? code }
                Button("Next") { codeGiven = true }
                    .buttonStyle(.borderedProminent)
                    .disabled(!code.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("nyckel://"))
            } else {
                NewPinPad { model.request(payload: code, pin: $0) }
            }
        case .requesting:
            ProgressView()
            Text("Asking your registered phones…")
        case .waiting(let request):
            Text("Approve on your other phone. It must show:")
            Text(request.number).font(.system(size: 48, weight: .bold, design: .monospaced))
            Text("Fingerprint \(request.fingerprint)").font(.system(.body, design: .monospaced))
            Text("Asked \(request.devices) device(s); expires \(formatTime(request.expiresAt)).").font(.caption)
            ProgressView()
        case .registered(let registration):
            Text("Approved. This phone is registered for \(registration.name).").foregroundStyle(.green)
            Button("Done", action: close).buttonStyle(.borderedProminent)
        case .denied:
            Text("Your other phone denied adding this phone.").foregroundStyle(.red)
        case .expired:
            Text("Nobody approved in time; the request expired.").foregroundStyle(.red)
        }
    }
}

/// On the approval screen: a request to add a new phone, shown instead of a sign-in's details.
struct NewDeviceCard: View {
    let device: NewDeviceInfo

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text("Add a new phone").font(.title2)
            Text("Name: \(device.name)")
            Text("Platform: \(device.platform)")
            Text("Fingerprint: \(device.fingerprint)").font(.system(.body, design: .monospaced))
            Text("Approve only if the new phone in your hand shows the same fingerprint.")
                .font(.caption)
                .foregroundStyle(.red)
        }
        .padding()
        .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 12))
    }
}

/// The registration user's devices at the server: name, platform, this phone, state. Retiring
/// another device asks this phone's PIN; retiring this phone unregisters it here (no PIN).
struct DevicesView: View {
    @ObservedObject var model: NewPhoneModel
    let registration: RegistrationInfo
    let retiredSelf: () -> Void
    let close: () -> Void
    @State private var target: UserDevice?
    @State private var pin = ""

    var body: some View {
        NavigationStack {
            List {
                if let message = model.retireMessage {
                    Button(message) { model.retireMessage = nil }
                }
                if let error = model.devicesError {
                    Text(error).foregroundStyle(.red)
                }
                if let device = target {
                    Section("Retire \(device.name)?") {
                        if model.retiring {
                            ProgressView()
                        } else if device.thisDevice {
                            Text("This phone stops being registered for \(registration.name) and forgets it.")
                            Button("Retire this phone", role: .destructive) {
                                model.retire(registrationId: registration.id, device: device, pin: "", done: retiredSelf)
                                target = nil
                            }
                        } else {
                            PinPad(title: "Enter your PIN to retire it", pin: $pin, doneLabel: "Retire") {
                                model.retire(registrationId: registration.id, device: device, pin: pin, done: retiredSelf)
                                pin = ""
                                target = nil
                            }
                        }
                        Button("Cancel") { target = nil }
                    }
                }
                Section(registration.name) {
                    ForEach(model.devices, id: \.deviceId) { device in
                        HStack {
                            VStack(alignment: .leading) {
                                Text(device.name + (device.thisDevice ? " (this phone)" : "")).font(.headline)
                                Text("\(device.platform) · \(device.state)").font(.caption)
                                Text("Last used \(formatTime(device.lastUsedAt))").font(.caption).foregroundStyle(.secondary)
                            }
                            Spacer()
                            if device.state != "inactive" {
                                Button("Retire") {
                                    model.retireMessage = nil
                                    target = device
                                }
                            }
                        }
                    }
                }
            }
            .navigationTitle("My devices")
            .toolbar {
                ToolbarItem(placement: .confirmationAction) { Button("Done", action: close) }
            }
        }
        .onAppear { model.loadDevices(registrationId: registration.id) }
    }
}
