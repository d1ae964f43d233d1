// The Android side of Nyckel: `:nyckel` (bindings + jniLibs + platform services) and `:app` (Compose UI).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "nyckel-android"
include(":nyckel", ":app")
