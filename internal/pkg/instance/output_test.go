package instance

import (
	"bytes"
	"testing"
)

// listed are two instances as `instance list` would see them: a plain one
// without CNI and a booted one on the host network.
var listed = []*File{
	{Name: "web", Pid: 1234, Image: "/srv/images/web.sif",
		LogErrPath: "/h/.apptainer/instances/logs/n/u/web.err", LogOutPath: "/h/.apptainer/instances/logs/n/u/web.out"},
	{Name: "db-primary", Pid: 98765, IP: "10.22.0.5", Image: "/srv/db.sif",
		LogErrPath: "/h/db.err", LogOutPath: "/h/db.out",
		Boot: true, BootHostnet: true, MaskedUnits: []string{"systemd-networkd.service", "networking.service"}, State: StateRunning},
}

func TestWriteTable(t *testing.T) {
	want := "" +
		"INSTANCE NAME    PID      IP           IMAGE\n" +
		"web              1234                  /srv/images/web.sif\n" +
		"db-primary       98765    10.22.0.5    /srv/db.sif\n"
	var buf bytes.Buffer
	if err := WriteTable(&buf, listed); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("table =\n%q\nwant\n%q", buf.String(), want)
	}
	buf.Reset()
	if err := WriteTable(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if want := "INSTANCE NAME    PID    IP    IMAGE\n"; buf.String() != want {
		t.Errorf("empty table = %q, want %q", buf.String(), want)
	}
}

func TestWriteLogsTable(t *testing.T) {
	want := "" +
		"INSTANCE NAME    PID      LOGS\n" +
		"web              1234     /h/.apptainer/instances/logs/n/u/web.err\n" +
		"                          /h/.apptainer/instances/logs/n/u/web.out\n" +
		"db-primary       98765    /h/db.err\n" +
		"                          /h/db.out\n"
	var buf bytes.Buffer
	if err := WriteLogsTable(&buf, listed); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("logs table =\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	want := `{
	"instances": [
		{
			"instance": "web",
			"pid": 1234,
			"img": "/srv/images/web.sif",
			"ip": "",
			"logErrPath": "/h/.apptainer/instances/logs/n/u/web.err",
			"logOutPath": "/h/.apptainer/instances/logs/n/u/web.out",
			"boot": false,
			"bootHostnet": false
		},
		{
			"instance": "db-primary",
			"pid": 98765,
			"img": "/srv/db.sif",
			"ip": "10.22.0.5",
			"logErrPath": "/h/db.err",
			"logOutPath": "/h/db.out",
			"boot": true,
			"bootHostnet": true,
			"maskedUnits": [
				"systemd-networkd.service",
				"networking.service"
			],
			"state": "running"
		}
	]
}
`
	var buf bytes.Buffer
	if err := WriteJSON(&buf, listed); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want {
		t.Errorf("JSON =\n%s\nwant\n%s", buf.String(), want)
	}
	buf.Reset()
	if err := WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if want := "{\n\t\"instances\": []\n}\n"; buf.String() != want {
		t.Errorf("empty JSON = %q, want %q", buf.String(), want)
	}
}
