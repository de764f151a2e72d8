"""What the device flow tells the person: the provider's text cleaned, URLs never cut."""

from oauthcli.client.device import DeviceAuthorization


def test_instructions_are_cleaned_and_whole():
    long_uri = "https://op.example/device?user_code=ABCD-EFGH&" + "x" * 600
    device = DeviceAuthorization(
        device_code="secret-device-code",
        user_code="ABCD\x1b[2J-EFGH",
        verification_uri="https://op.example/device\x1b]8;;evil\x07",
        verification_uri_complete=long_uri,
        expires_in=600,
        interval=5,
    )
    text = device.instructions()
    assert long_uri in text and "(code ABCD-EFGH)" in text
    assert "secret-device-code" not in text and "\x1b" not in text
    plain = DeviceAuthorization("d", "WXYZ", "https://op.example/device\x1b[31m", None, 60, 5)
    assert plain.instructions() == (
        "To log in, open https://op.example/device on any device and enter the code WXYZ"
    )
    assert "secret-device-code" not in repr(device)
