// The Nyckel library module: Kotlin bindings generated at build time from the Rust library
// (uniffi-bindgen in library mode), and jniLibs cross-compiled with cargo-ndk.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

val repoRoot = rootProject.projectDir.parentFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")
val jniLibsDir = layout.buildDirectory.dir("rust/jniLibs")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

android {
    namespace = "app.nyckel.android"
    compileSdk = 35
    defaultConfig {
        minSdk = 28
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].apply {
        java.srcDir(generatedKotlin)
        jniLibs.srcDir(jniLibsDir)
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
}

// Cross-compiles libnyckel_ffi.so for every ABI (needs `cargo install cargo-ndk` and the NDK).
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    val args = mutableListOf("cargo", "ndk", "-o", jniLibsDir.get().asFile.absolutePath)
    abis.forEach { args += listOf("-t", it) }
    args += listOf("build", "--release", "-p", "nyckel-ffi")
    commandLine(args)
}

// Generates the Kotlin bindings from a host build, so the generator matches the runtime exactly.
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    val hostLib = if (org.gradle.internal.os.OperatingSystem.current().isMacOsX) "libnyckel_ffi.dylib" else "libnyckel_ffi.so"
    commandLine(
        "sh", "-c",
        "cargo build -p nyckel-ffi -p uniffi-bindgen && ./target/debug/uniffi-bindgen generate --no-format " +
            "--library target/debug/$hostLib --language kotlin --out-dir '${generatedKotlin.get().asFile.absolutePath}'",
    )
}

tasks.named("preBuild") { dependsOn(generateBindings, cargoNdk) }

dependencies {
    api("net.java.dev.jna:jna:5.15.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.annotation:annotation:1.9.1")
    // BiometricPrompt for AndroidBiometricKey; api because its constructor takes a FragmentActivity.
    api("androidx.biometric:biometric:1.1.0")
}
